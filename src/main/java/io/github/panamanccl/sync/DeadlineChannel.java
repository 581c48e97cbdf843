package io.github.panamanccl.sync;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * A non-blocking socket whose every read and write ends by an absolute deadline ({@link System#nanoTime()}).
 * One thread may read while another writes (each direction has its own selector); {@link #close()} from any
 * thread wakes both promptly, which is how a transfer is aborted without leaving a thread blocked.
 */
final class DeadlineChannel implements AutoCloseable {
    private final SocketChannel channel;
    private final Selector readSelector;
    private final Selector writeSelector;
    private volatile boolean closed;

    private DeadlineChannel(SocketChannel channel) throws IOException {
        this.channel = channel;
        channel.configureBlocking(false);
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        Selector reads = Selector.open();
        Selector writes;
        try {
            writes = Selector.open();
        } catch (IOException e) {
            reads.close();
            throw e;
        }
        this.readSelector = reads;
        this.writeSelector = writes;
        channel.register(readSelector, SelectionKey.OP_READ);
        channel.register(writeSelector, SelectionKey.OP_WRITE);
    }

    /** Takes ownership of an accepted (or connected) channel; closes it if wrapping fails. */
    static DeadlineChannel wrap(SocketChannel channel) throws IOException {
        try {
            return new DeadlineChannel(channel);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    static DeadlineChannel connect(InetSocketAddress address, long deadlineNanos) throws IOException {
        SocketChannel channel = SocketChannel.open();
        try (Selector selector = Selector.open()) {
            channel.configureBlocking(false);
            if (!channel.connect(address)) {
                channel.register(selector, SelectionKey.OP_CONNECT);
                while (!channel.finishConnect()) {
                    selector.select(remainingMillis(deadlineNanos, "connect to " + address));
                    selector.selectedKeys().clear();
                }
            }
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        return wrap(channel);
    }

    /** Fills {@code dst} completely or throws (end of stream, timeout, close). */
    void readFully(ByteBuffer dst, long deadlineNanos) throws IOException {
        while (dst.hasRemaining()) {
            ensureOpen();
            int n = channel.read(dst);
            if (n < 0) {
                throw new EOFException("connection closed by peer " + peer() + " with " + dst.remaining()
                        + " bytes still expected");
            }
            if (n == 0) {
                await(readSelector, deadlineNanos, "read from " + peer());
            }
        }
    }

    /** Writes all of {@code src} or throws (timeout, close, peer reset). */
    void writeFully(ByteBuffer[] src, long deadlineNanos) throws IOException {
        while (hasRemaining(src)) {
            ensureOpen();
            if (channel.write(src) == 0) {
                await(writeSelector, deadlineNanos, "write to " + peer());
            }
        }
    }

    /** One non-blocking gathering write; returns the bytes written (0 when the socket buffer is full). */
    long writeSome(ByteBuffer[] src) throws IOException {
        ensureOpen();
        return channel.write(src);
    }

    SocketChannel channel() {
        return channel;
    }

    String peer() {
        try {
            return String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            return "(closed)";
        }
    }

    static boolean hasRemaining(ByteBuffer[] buffers) {
        for (ByteBuffer b : buffers) {
            if (b.hasRemaining()) {
                return true;
            }
        }
        return false;
    }

    /** Milliseconds to wait in select (at least 1, since 0 means forever); throws once the deadline has passed. */
    static long remainingMillis(long deadlineNanos, String what) throws SocketTimeoutException {
        long remaining = deadlineNanos - System.nanoTime();
        if (remaining <= 0) {
            throw new SocketTimeoutException(what + " did not complete before its deadline");
        }
        return Math.max(1, TimeUnit.NANOSECONDS.toMillis(remaining));
    }

    /** Waits for readiness; a selector closed by {@link #close()} reads as a closed channel. */
    private static void await(Selector selector, long deadlineNanos, String what) throws IOException {
        try {
            selector.select(remainingMillis(deadlineNanos, what));
            selector.selectedKeys().clear();
        } catch (ClosedSelectorException e) {
            throw new ClosedChannelException();
        }
    }

    private void ensureOpen() throws ClosedChannelException {
        if (closed) {
            throw new ClosedChannelException();
        }
    }

    /** Idempotent; safe from any thread; wakes threads waiting in reads or writes. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeQuietly(channel);
        closeQuietly(readSelector);
        closeQuietly(writeSelector);
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // closing during abort: the first failure is what gets reported
        }
    }
}
