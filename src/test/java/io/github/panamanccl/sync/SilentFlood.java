package io.github.panamanccl.sync;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Hostile traffic as any local user could send it: keeps {@code size} connections to a port open that never send a
 * byte, and reopens each one the server closes at once. One thread, one selector.
 */
final class SilentFlood implements AutoCloseable {
    private final InetSocketAddress target;
    private final int size;
    private final AtomicLong opened = new AtomicLong();
    private final Thread thread;
    private volatile boolean stopped;

    SilentFlood(int port, int size) {
        this.target = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
        this.size = size;
        this.thread = Thread.ofPlatform().daemon().name("silent-flood-" + port).start(this::run);
    }

    /** Connections that completed so far, reopened ones included. */
    long opened() {
        return opened.get();
    }

    /** Waits until {@code count} connections have completed. */
    void awaitOpened(long count, Duration timeout) throws InterruptedException {
        long giveUp = System.nanoTime() + timeout.toNanos();
        while (opened.get() < count) {
            if (System.nanoTime() - giveUp > 0) {
                throw new AssertionError("the flood opened only " + opened.get() + " of " + count + " connections");
            }
            TimeUnit.MILLISECONDS.sleep(1);
        }
    }

    private void run() {
        ByteBuffer sink = ByteBuffer.allocate(1024);
        try (Selector selector = Selector.open()) {
            for (int i = 0; i < size; i++) {
                open(selector);
            }
            while (!stopped) {
                selector.select(50);
                for (SelectionKey key : selector.selectedKeys()) {
                    SocketChannel channel = (SocketChannel) key.channel();
                    try {
                        if (key.isConnectable()) {
                            channel.finishConnect();
                            opened.incrementAndGet();
                            key.interestOps(SelectionKey.OP_READ);
                        } else if (key.isReadable()) {
                            sink.clear();
                            if (channel.read(sink) < 0) {
                                throw new IOException("closed by the server");
                            }
                        }
                    } catch (java.net.ConnectException e) { // nobody listens (any more): try again shortly
                        key.cancel();
                        channel.close();
                        pause();
                        open(selector);
                    } catch (IOException e) { // closed by the server: reopen at once
                        key.cancel();
                        channel.close();
                        open(selector);
                    }
                }
                selector.selectedKeys().clear();
            }
            for (SelectionKey key : selector.keys()) {
                key.channel().close();
            }
        } catch (IOException e) {
            throw new AssertionError("the flood failed", e);
        }
    }

    private static void pause() {
        try {
            TimeUnit.MILLISECONDS.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void open(Selector selector) throws IOException {
        SocketChannel channel = SocketChannel.open();
        channel.configureBlocking(false);
        if (channel.connect(target)) {
            opened.incrementAndGet();
            channel.register(selector, SelectionKey.OP_READ);
        } else {
            channel.register(selector, SelectionKey.OP_CONNECT);
        }
    }

    @Override
    public void close() {
        stopped = true;
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
