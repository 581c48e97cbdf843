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
    /** About the most one read or write moves on loopback: the largest socket buffer Linux grows to by default. */
    private static final long MAX_BYTES_PER_CALL = 4L << 20;
    /** The least bytes of buffers a scattering or gathering call is handed. */
    private static final long MIN_BYTES_PER_CALL = 64L << 10;
    /** IOV_MAX: the most buffers the JDK passes to one readv or writev. */
    private static final int MAX_BUFFERS_PER_CALL = 1024;

    private final SocketChannel channel;
    private final Selector readSelector;
    private final Selector writeSelector;
    private volatile boolean closed;
    /** Bytes of buffers the next scattering read is handed (the reading thread's). */
    private long readBudget = MAX_BYTES_PER_CALL;
    /** Bytes of buffers the next gathering write is handed (the writing thread's). */
    private long writeBudget = MAX_BYTES_PER_CALL;

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

    /**
     * Fills {@code dsts} completely, in order, with scattering reads, or throws (end of stream, timeout, close);
     * {@code afterRead} runs after every read that brought bytes.
     */
    void readFully(ByteBuffer[] dsts, Runnable afterRead, long deadlineNanos) throws IOException {
        int first = firstWithRemaining(dsts, 0);
        while (first < dsts.length) {
            ensureOpen();
            long n = channel.read(dsts, first, callLength(dsts, first, readBudget));
            if (n < 0) {
                throw new EOFException("connection closed by peer " + peer() + " with " + remaining(dsts, first)
                        + " bytes still expected");
            }
            if (n == 0) {
                await(readSelector, deadlineNanos, "read from " + peer());
            } else {
                readBudget = nextBudget(n);
                afterRead.run();
                first = firstWithRemaining(dsts, first);
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

    /**
     * One non-blocking gathering write of {@code src} from buffer {@code first} on (the ones before it are written);
     * returns the first buffer that still has bytes, {@code src.length} once all are written.
     */
    int writeSome(ByteBuffer[] src, int first) throws IOException {
        ensureOpen();
        long n = channel.write(src, first, callLength(src, first, writeBudget));
        if (n > 0) {
            writeBudget = nextBudget(n);
        }
        return firstWithRemaining(src, first);
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
        return firstWithRemaining(buffers, 0) < buffers.length;
    }

    /**
     * How many of {@code buffers}, from {@code first} on, one system call is handed: those that start within
     * {@code budget} bytes (at least one). The JDK takes at most IOV_MAX (1024) of them, but it pins and unpins every
     * buffer it is handed and the kernel imports every iovec, while a call moves only what the socket buffer holds or
     * has room for: the rest would be handled for nothing, over and over when the buffers are many and small.
     */
    private static int callLength(ByteBuffer[] buffers, int first, long budget) {
        long bytes = 0;
        int end = first;
        while (end < buffers.length && bytes < budget && end - first < MAX_BUFFERS_PER_CALL) {
            bytes += buffers[end].remaining();
            end++;
        }
        return end - first;
    }

    /**
     * The budget after a call that moved {@code moved} bytes: twice that, so that it follows what the socket takes or
     * gives per call, up and down, within its bounds.
     */
    private static long nextBudget(long moved) {
        return Math.clamp(2 * moved, MIN_BYTES_PER_CALL, MAX_BYTES_PER_CALL);
    }

    /** The first of {@code buffers} from {@code from} on with bytes left; {@code buffers.length} when none. */
    static int firstWithRemaining(ByteBuffer[] buffers, int from) {
        int i = from;
        while (i < buffers.length && !buffers[i].hasRemaining()) {
            i++;
        }
        return i;
    }

    private static long remaining(ByteBuffer[] buffers, int from) {
        long bytes = 0;
        for (int i = from; i < buffers.length; i++) {
            bytes += buffers[i].remaining();
        }
        return bytes;
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
        Pipelines.closeQuietly(channel, readSelector, writeSelector);
    }
}
