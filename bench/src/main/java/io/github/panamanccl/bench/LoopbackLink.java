package io.github.panamanccl.bench;

import java.io.EOFException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Plain TCP on loopback from this JVM to itself, what the host transport is measured against: one blocking
 * {@link SocketChannel} per receiver (TCP_NODELAY, as the host transport sets it), one thread at each end of every
 * connection, no header, no checksum, no copy in Java. A transfer sends the sender's pieces to every receiver, in
 * order, and returns when every receiver has all of them.
 *
 * <p>{@link Writes#GATHERING}: each write and read system call takes as many pieces as the kernel accepts (Java
 * passes at most IOV_MAX = 1024 per call), what a zero-copy sender writing straight from tensors does.
 * {@link Writes#ONE_PIECE_PER_CALL}: one piece per write and per read call, what a sender of one bucket at a time does.
 */
final class LoopbackLink implements AutoCloseable {
    /** How the pieces are handed to the kernel. */
    enum Writes { GATHERING, ONE_PIECE_PER_CALL }

    private final List<SocketChannel> senderEnds = new ArrayList<>();
    private final List<SocketChannel> receiverEnds = new ArrayList<>();
    private final ExecutorService threads;
    private final Duration timeout;

    private LoopbackLink(int receivers, Duration timeout) {
        this.timeout = timeout;
        this.threads = Executors.newFixedThreadPool(2 * receivers,
                task -> Thread.ofPlatform().daemon().name("loopback-link").unstarted(task));
    }

    /** Connects {@code receivers} receivers to one sender on 127.0.0.1. */
    static LoopbackLink open(int receivers, Duration timeout) {
        if (receivers < 1) {
            throw new IllegalArgumentException("receivers = " + receivers + ": at least 1");
        }
        LoopbackLink link = new LoopbackLink(receivers, timeout);
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), receivers);
            for (int r = 0; r < receivers; r++) {
                SocketChannel receiver = SocketChannel.open(server.getLocalAddress());
                link.receiverEnds.add(receiver);
                link.senderEnds.add(server.accept());
            }
            for (SocketChannel channel : link.senderEnds) {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            for (SocketChannel channel : link.receiverEnds) {
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            return link;
        } catch (IOException e) {
            link.close();
            throw new UncheckedIOException("cannot connect " + receivers + " receivers on loopback", e);
        } catch (RuntimeException e) {
            link.close();
            throw e;
        }
    }

    int receivers() {
        return receiverEnds.size();
    }

    /**
     * Sends {@code source} to every receiver; receiver {@code r} reads into {@code destinations.get(r)}, whose pieces
     * must add up to the same bytes (they may be cut differently).
     *
     * @return the bytes each receiver got
     */
    long transfer(List<MemorySegment> source, List<List<MemorySegment>> destinations, Writes writes) {
        if (destinations.size() != receivers()) {
            throw new IllegalArgumentException(destinations.size() + " destinations for " + receivers() + " receivers");
        }
        long bytes = totalBytes(source);
        List<Future<?>> running = new ArrayList<>(2 * receivers());
        for (int r = 0; r < receivers(); r++) {
            if (totalBytes(destinations.get(r)) != bytes) {
                throw new IllegalArgumentException("receiver " + r + " has room for " + totalBytes(destinations.get(r))
                        + " bytes, the source has " + bytes);
            }
            SocketChannel in = receiverEnds.get(r);
            ByteBuffer[] into = buffers(destinations.get(r));
            running.add(threads.submit(() -> move(in, into, writes, false)));
            SocketChannel out = senderEnds.get(r);
            ByteBuffer[] from = buffers(source);
            running.add(threads.submit(() -> move(out, from, writes, true)));
        }
        awaitAll(running);
        return bytes;
    }

    /** Writes or reads every byte of {@code pieces}, passing the kernel only pieces that still have bytes left. */
    private static Void move(SocketChannel channel, ByteBuffer[] pieces, Writes writes, boolean write) throws IOException {
        int first = 0;
        while (first < pieces.length) {
            int count = writes == Writes.GATHERING ? pieces.length - first : 1;
            long moved = write ? channel.write(pieces, first, count) : channel.read(pieces, first, count);
            if (moved < 0) {
                throw new EOFException("loopback connection closed with bytes still expected");
            }
            while (first < pieces.length && !pieces[first].hasRemaining()) {
                first++;
            }
        }
        return null;
    }

    private void awaitAll(List<Future<?>> running) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            for (Future<?> future : running) {
                future.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            }
        } catch (TimeoutException e) {
            close(); // unblocks every thread still in a read or write
            throw new IllegalStateException("loopback transfer did not finish within " + timeout, e);
        } catch (ExecutionException e) {
            close();
            throw new IllegalStateException("loopback transfer failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            close();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during a loopback transfer", e);
        }
    }

    /** The segments as ByteBuffers, each at most 1 GiB (a ByteBuffer holds at most 2 GiB). */
    private static ByteBuffer[] buffers(List<MemorySegment> pieces) {
        List<ByteBuffer> buffers = new ArrayList<>(pieces.size());
        for (MemorySegment piece : pieces) {
            for (long offset = 0; offset < piece.byteSize(); offset += 1L << 30) {
                buffers.add(piece.asSlice(offset, Math.min(1L << 30, piece.byteSize() - offset)).asByteBuffer());
            }
        }
        return buffers.toArray(ByteBuffer[]::new);
    }

    static long totalBytes(List<MemorySegment> pieces) {
        long total = 0;
        for (MemorySegment piece : pieces) {
            total += piece.byteSize();
        }
        return total;
    }

    /** {@code segment} cut into pieces of {@code pieceBytes} (the last one shorter). */
    static List<MemorySegment> cut(MemorySegment segment, long pieceBytes) {
        if (pieceBytes < 1) {
            throw new IllegalArgumentException("pieceBytes = " + pieceBytes + ": at least 1");
        }
        List<MemorySegment> pieces = new ArrayList<>();
        for (long offset = 0; offset < segment.byteSize(); offset += pieceBytes) {
            pieces.add(segment.asSlice(offset, Math.min(pieceBytes, segment.byteSize() - offset)));
        }
        return pieces;
    }

    /** Closes every connection (idempotent): a transfer in progress fails promptly. */
    @Override
    public void close() {
        for (SocketChannel channel : senderEnds) {
            closeQuietly(channel);
        }
        for (SocketChannel channel : receiverEnds) {
            closeQuietly(channel);
        }
        threads.shutdownNow();
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing more will be moved over it
        }
    }
}
