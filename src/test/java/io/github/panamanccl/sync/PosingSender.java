package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.PlanCodec;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * A peer on loopback posing as the sender, one join at a time: it reads the receiver's JOIN_REQUEST, answers with
 * the bytes it is given, and records what the receiver sends after its request until the receiver closes the
 * connection. A receiver that keeps the connection open longer than {@code promptly} fails the answer: nothing of a
 * join that ended may stay behind.
 */
final class PosingSender implements AutoCloseable {
    private final ServerSocket server;
    private final Duration promptly;
    private final ExecutorService thread = Executors.newCachedThreadPool(
            task -> Thread.ofPlatform().daemon().name("posing-sender").unstarted(task));

    PosingSender(Duration promptly) throws IOException {
        this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        this.promptly = promptly;
    }

    int port() {
        return server.getLocalPort();
    }

    /**
     * Serves the next join with {@code answer}, then ends its side of the connection ({@code thenHangUp}) or keeps it
     * open until the receiver closes it; the future holds what the receiver sent after its request.
     */
    Future<List<Wire.Message>> answerNextJoin(byte[] answer, boolean thenHangUp) {
        return thread.submit(() -> {
            try (Socket receiver = server.accept()) {
                receiver.setSoLinger(true, 0); // reset on close: no TIME_WAIT per join
                receiver.setSoTimeout((int) promptly.toMillis());
                DataInputStream in = new DataInputStream(receiver.getInputStream());
                byte[] request = new byte[in.readInt()];
                in.readFully(request);
                assertInstanceOf(Wire.JoinRequest.class, Wire.decode(request), "the receiver opens with JOIN_REQUEST");
                try {
                    receiver.getOutputStream().write(answer);
                    if (thenHangUp) {
                        receiver.shutdownOutput();
                    }
                } catch (SocketException closedEarly) {
                    // the receiver may give up before it has read everything
                }
                return messages(readUntilClosed(in, promptly).bytes());
            }
        });
    }

    @Override
    public void close() throws IOException {
        thread.shutdownNow();
        server.close();
    }

    /** The WELCOME a sender of {@code plan} answers with. */
    static byte[] welcome(BucketPlan plan) {
        return frame(new Wire.Welcome(1, HostTcpTransport.NAME, HexFormat.of().parseHex(plan.fingerprint()),
                PlanCodec.encode(plan)));
    }

    static byte[] frame(Wire.Message message) {
        return FrameReader.frame(message).array();
    }

    /** What the peer sent before it closed; after a reset (it closed with our bytes unread) maybe not all. */
    record Answer(byte[] bytes, boolean reset) {
    }

    /** Reads until the peer closes; a peer still silent after {@code promptly} is a failure. */
    static Answer readUntilClosed(InputStream in, Duration promptly) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        try {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                bytes.write(buffer, 0, n);
            }
            return new Answer(bytes.toByteArray(), false);
        } catch (SocketTimeoutException open) {
            throw new AssertionError("the peer kept the connection open for " + promptly + " after "
                    + HexFormat.of().formatHex(bytes.toByteArray()), open);
        } catch (SocketException reset) {
            return new Answer(bytes.toByteArray(), true);
        }
    }

    /** The whole frames of {@code bytes} (a reset may have cut the last one). */
    private static List<Wire.Message> messages(byte[] bytes) {
        List<Wire.Message> messages = new ArrayList<>();
        ByteBuffer in = ByteBuffer.wrap(bytes);
        while (in.remaining() >= 4 && in.getInt(in.position()) <= in.remaining() - 4) {
            byte[] body = new byte[in.getInt()];
            in.get(body);
            messages.add(Wire.decode(body));
        }
        return messages;
    }
}
