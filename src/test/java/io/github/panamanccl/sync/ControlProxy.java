package io.github.panamanccl.sync;

import io.github.panamanccl.sync.Wire.Message;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;

/**
 * A relay in the middle of one receiver's control connection: decodes every frame, lets the test rewrite or hold
 * back those coming from the sender, and encodes them again. The data plane does not pass through it.
 */
final class ControlProxy implements AutoCloseable {
    private final ServerSocket server;
    private final int senderPort;
    private volatile UnaryOperator<Message> fromSender = UnaryOperator.identity();
    private volatile Socket toReceiver;
    private volatile Socket toSender;
    /** Guards the writes to the receiver, what is held back from it, and whether it was cut off. */
    private final Object receiverSide = new Object();
    private DataOutputStream receiverOut;
    private Predicate<Message> holdBack = message -> false;
    private final List<Message> held = new ArrayList<>();
    private boolean cutOff;
    /** Counted down once the receiver's side of the connection has ended. */
    private final CountDownLatch receiverGone = new CountDownLatch(1);

    ControlProxy(int senderPort) throws IOException {
        this.senderPort = senderPort;
        this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        Thread.ofPlatform().daemon().name("control-proxy").start(this::relayOne);
    }

    int port() {
        return server.getLocalPort();
    }

    /** Applied to every later message from the sender to the receiver. */
    void rewriteFromSender(UnaryOperator<Message> rewrite) {
        this.fromSender = rewrite;
    }

    /** Later messages from the sender that match are held back from the receiver until {@link #releaseThenCutOff}. */
    void holdBackFromSender(Predicate<Message> which) {
        synchronized (receiverSide) {
            holdBack = which;
        }
    }

    /** Waits until {@code count} messages are held back; false if they are not by the timeout. */
    boolean awaitHeld(int count, Duration timeout) throws InterruptedException {
        long giveUp = System.nanoTime() + timeout.toNanos();
        synchronized (receiverSide) {
            while (held.size() < count) {
                long left = giveUp - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                TimeUnit.NANOSECONDS.timedWait(receiverSide, left);
            }
            return true;
        }
    }

    /**
     * Delivers the held messages back to back, then ends the stream to the receiver (as a sender that dies right
     * after them would): the receiver handles every one of them before it sees the end.
     */
    void releaseThenCutOff() throws IOException {
        synchronized (receiverSide) {
            for (Message message : held) {
                write(receiverOut, message);
            }
            held.clear();
            cutOff = true;
            toReceiver.shutdownOutput();
        }
    }

    /** Waits until the receiver has closed its end, which it does only after reading everything sent to it. */
    boolean awaitReceiverGone(Duration timeout) throws InterruptedException {
        return receiverGone.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    private void relayOne() {
        try {
            toReceiver = server.accept();
            toSender = new Socket(InetAddress.getLoopbackAddress(), senderPort);
            Thread.ofPlatform().daemon().name("control-proxy-up").start(this::relayUp);
            relayDown();
        } catch (IOException e) {
            close();
        }
    }

    /** Receiver to sender, unchanged, until the receiver closes its end. */
    private void relayUp() {
        try (InputStream rawIn = toReceiver.getInputStream(); OutputStream rawOut = toSender.getOutputStream()) {
            DataInputStream in = new DataInputStream(rawIn);
            DataOutputStream out = new DataOutputStream(rawOut);
            while (true) {
                write(out, read(in));
            }
        } catch (IOException | RuntimeException e) {
            receiverGone.countDown();
            close();
        }
    }

    /** Sender to receiver, rewritten or held back as the test asks; dropped once the receiver was cut off. */
    private void relayDown() {
        try (InputStream rawIn = toSender.getInputStream()) {
            synchronized (receiverSide) {
                receiverOut = new DataOutputStream(toReceiver.getOutputStream());
            }
            DataInputStream in = new DataInputStream(rawIn);
            while (true) {
                Message received = read(in);
                Message message = fromSender.apply(received); // the rewrite in force now, not when the read began
                synchronized (receiverSide) {
                    if (cutOff) {
                        continue;
                    }
                    if (holdBack.test(message)) {
                        held.add(message);
                        receiverSide.notifyAll();
                    } else {
                        write(receiverOut, message);
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            close();
        }
    }

    private static Message read(DataInputStream in) throws IOException {
        return Wire.decode(in.readNBytes(in.readInt()));
    }

    private static void write(DataOutputStream out, Message message) throws IOException {
        byte[] body = Wire.encode(message);
        out.writeInt(body.length);
        out.write(body);
        out.flush();
    }

    /** Closes both sides (as a dropped connection would). */
    @Override
    public void close() {
        for (AutoCloseable c : new AutoCloseable[] {server, toReceiver, toSender}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception ignored) {
                // tearing the relay down
            }
        }
    }
}
