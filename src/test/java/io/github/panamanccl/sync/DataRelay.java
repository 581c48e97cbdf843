package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A relay in the middle of host-tcp data connections: every connection made to {@link #port()} is forwarded to the
 * root's data port of the moment ({@link #rendezvous}), both ways. The stream from the root is recorded, and the
 * test may have one byte of it flipped, or have it cut or held from there on, at an offset counted from the root's
 * first byte on that connection (its 8-byte acknowledgement of the hello).
 */
final class DataRelay implements AutoCloseable {
    /** What the relay does to the stream from the root, from byte {@code offset} on. */
    enum Fault { NONE, FLIP_BYTE, CUT, HOLD }

    /** The root's acknowledgement of a hello, the first bytes it sends. */
    static final int ACK_BYTES = 8;

    private final ServerSocket server;
    private final List<Socket> sockets = new ArrayList<>();
    private final ByteArrayOutputStream recorded = new ByteArrayOutputStream();
    private final CountDownLatch faultReached = new CountDownLatch(1);
    private volatile int rootPort;
    /** Guarded by this, like {@link #offset} and {@link #recorded}. */
    private Fault fault = Fault.NONE;
    private long offset;

    DataRelay() throws IOException {
        server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("data-relay").start(this::acceptAll);
    }

    int port() {
        return server.getLocalPort();
    }

    /**
     * Takes the root's rendezvous (its data port, then its secret): connections to the relay go to that port from
     * now on; returns the same rendezvous naming the relay's port instead.
     */
    byte[] rendezvous(byte[] root) {
        ByteBuffer bytes = ByteBuffer.wrap(root.clone());
        rootPort = bytes.getInt(0);
        bytes.putInt(0, port());
        return bytes.array();
    }

    /**
     * Where byte {@code at} of bucket {@code bucket} of the {@code update}-th update (from 0) over one group's data
     * connection is on the stream from the root: after the acknowledgement and every bucket before it, each behind its
     * header.
     */
    static long offsetOf(BucketPlan plan, int update, int bucket, long at) {
        long perUpdate = 0;
        for (int k = 0; k < plan.bucketCount(); k++) {
            perUpdate += BucketHeader.BYTES + plan.bucketByteSize(k);
        }
        long offset = ACK_BYTES + update * perUpdate;
        for (int k = 0; k < bucket; k++) {
            offset += BucketHeader.BYTES + plan.bucketByteSize(k);
        }
        return offset + BucketHeader.BYTES + at;
    }

    /** {@code fault}, once, at byte {@code at} of a stream from the root (the one that reaches it first). */
    synchronized void inject(Fault fault, long at) {
        this.fault = fault;
        this.offset = at;
    }

    /** Waits until the injected fault has struck; false when it has not by the timeout. */
    boolean awaitFault(long timeoutMillis) throws InterruptedException {
        return faultReached.await(timeoutMillis, TimeUnit.MILLISECONDS);
    }

    /** Every byte the root sent so far over the connections made since the last call, as forwarded. */
    synchronized byte[] takeRecorded() {
        byte[] bytes = recorded.toByteArray();
        recorded.reset();
        return bytes;
    }

    private void acceptAll() {
        try {
            while (true) {
                Socket receiver = server.accept();
                Socket root = new Socket(InetAddress.getLoopbackAddress(), rootPort);
                synchronized (this) {
                    sockets.add(receiver);
                    sockets.add(root);
                }
                Thread.ofPlatform().daemon().name("data-relay-up").start(() -> copy(receiver, root, false));
                Thread.ofPlatform().daemon().name("data-relay-down").start(() -> copy(root, receiver, true));
            }
        } catch (IOException e) {
            // closed
        }
    }

    /** Forwards {@code from} to {@code to}; the stream from the root ({@code down}) is recorded and meets the fault. */
    private void copy(Socket from, Socket to, boolean down) {
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            byte[] buffer = new byte[64 << 10];
            long position = 0;
            int n;
            while ((n = in.read(buffer)) >= 0) {
                int keep = n;
                Fault struck = Fault.NONE;
                if (down) {
                    synchronized (this) {
                        if (fault != Fault.NONE && position <= offset && offset < position + n) {
                            struck = fault;
                            fault = Fault.NONE;
                            int index = (int) (offset - position);
                            if (struck == Fault.FLIP_BYTE) {
                                buffer[index] ^= 0x40;
                            } else {
                                keep = index;
                            }
                        }
                        recorded.write(buffer, 0, keep);
                    }
                }
                out.write(buffer, 0, keep);
                out.flush();
                position += n;
                if (struck != Fault.NONE) {
                    faultReached.countDown();
                }
                if (struck == Fault.CUT) {
                    from.close();
                    to.close();
                    return;
                }
                if (struck == Fault.HOLD) {
                    while (in.read(buffer) >= 0) {
                        // swallowed: nothing more reaches the receiver until the connection ends
                    }
                    return;
                }
            }
            to.shutdownOutput();
        } catch (IOException e) {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // the connection is being torn down
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        synchronized (this) {
            for (Socket socket : sockets) {
                closeQuietly(socket);
            }
        }
    }
}
