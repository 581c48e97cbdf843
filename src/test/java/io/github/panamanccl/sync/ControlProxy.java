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
import java.util.function.UnaryOperator;

/**
 * A relay in the middle of one receiver's control connection: decodes every frame, lets the test rewrite those
 * coming from the sender, and encodes them again. The data plane does not pass through it.
 */
final class ControlProxy implements AutoCloseable {
    private final ServerSocket server;
    private final int senderPort;
    private volatile UnaryOperator<Message> fromSender = UnaryOperator.identity();
    private volatile Socket toReceiver;
    private volatile Socket toSender;

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

    private void relayOne() {
        try {
            toReceiver = server.accept();
            toSender = new Socket(InetAddress.getLoopbackAddress(), senderPort);
            Thread.ofPlatform().daemon().name("control-proxy-up")
                    .start(() -> relay(toReceiver, toSender, UnaryOperator.identity()));
            relay(toSender, toReceiver, message -> fromSender.apply(message));
        } catch (IOException e) {
            close();
        }
    }

    /** Copies frames until either side closes, then closes both (as a dropped connection would). */
    private void relay(Socket from, Socket to, UnaryOperator<Message> rewrite) {
        try (InputStream rawIn = from.getInputStream(); OutputStream rawOut = to.getOutputStream()) {
            DataInputStream in = new DataInputStream(rawIn);
            DataOutputStream out = new DataOutputStream(rawOut);
            while (true) {
                byte[] body = in.readNBytes(in.readInt());
                byte[] relayed = Wire.encode(rewrite.apply(Wire.decode(body)));
                out.writeInt(relayed.length);
                out.write(relayed);
                out.flush();
            }
        } catch (IOException | RuntimeException e) {
            close();
        }
    }

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
