package io.github.panamanccl.sync;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.testing.FuzzContract;
import io.github.panamanccl.testing.RawPlanWriter;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Coverage-guided fuzzing of the control-plane handshake over real sockets, both ways. {@link #senderReadsHello}:
 * the bytes an unauthenticated peer sends a live {@link WeightSender} (length-prefixed frames, read under the
 * handshake's frame limit) are answered by at most one REJECT, never a WELCOME, and the connection is closed
 * promptly. {@link #receiverReadsWelcome}: the bytes a peer posing as the sender answers a joining
 * {@link WeightReceiver} with end {@code join} in a receiver or one of its documented exceptions, promptly. Seeds:
 * the methods of the same names, plus the corpora in src/test/resources/io/github/panamanccl/sync/HandshakeFuzzTestInputs
 * (see src/test/FUZZING.md).
 */
class HandshakeFuzzTest {
    private static final String TOKEN = "fuzz-token";
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    /** How long either side may take to finish with one input; a real peer needs milliseconds. */
    private static final Duration PROMPTLY = Duration.ofSeconds(5);
    private static final Set<Wire.Reason> PRE_AUTHENTICATION_REJECTIONS = Set.of(Wire.Reason.PROTOCOL, Wire.Reason.WRONG_TOKEN);

    private static final BucketPlan PLAN = BucketPlanner.plan(List.of(new TensorSpec("weight", DType.FLOAT32, 3, 5),
            new TensorSpec("bias", DType.BFLOAT16, 5)), 64, 16);

    private static Arena arena;
    private static Map<String, MemorySegment> destinations;
    private static WeightSender sender;
    private static ServerSocket posingAsSender;
    private static ExecutorService peers;

    @BeforeAll
    static void start() throws IOException {
        arena = Arena.ofShared();
        destinations = SyncFixtures.allocate(PLAN, arena);
        // One sender serves every input: a handshake that is refused leaves nothing behind.
        sender = WeightSender.builder().plan(PLAN).hostSources(SyncFixtures.allocate(PLAN, arena)).receivers(1)
                .token(TOKEN).start();
        posingAsSender = new ServerSocket(0, 1, LOOPBACK);
        peers = Executors.newCachedThreadPool(task -> Thread.ofPlatform().daemon().name("fuzz-peer").unstarted(task));
    }

    @AfterAll
    static void stop() throws IOException {
        peers.shutdownNow();
        posingAsSender.close();
        sender.close();
        arena.close();
    }

    static Stream<Arguments> senderReadsHello() {
        byte[] wrongToken = "wrong-token".getBytes(StandardCharsets.UTF_8);
        byte[] hello = frame(new Wire.Hello(Wire.PROTOCOL_VERSION, wrongToken, new byte[0], "engine-0"));
        return Stream.of(
                seed("HELLO with a wrong token", hello),
                seed("HELLO expecting the plan, wrong token", frame(new Wire.Hello(Wire.PROTOCOL_VERSION, wrongToken,
                        HexFormat.of().parseHex(PLAN.fingerprint()), "engine-1"))),
                seed("HELLO of another protocol version", frame(new Wire.Hello(Wire.PROTOCOL_VERSION + 1, new byte[4],
                        new byte[0], ""))),
                seed("READY instead of HELLO", frame(new Wire.Ready(1))),
                seed("HELLO twice", concat(hello, hello)),
                seed("a frame of length 0", new byte[4]),
                seed("a frame over the handshake limit", ByteBuffer.allocate(8).putInt(8 << 10 | 1).array()),
                seed("half a frame", Arrays.copyOf(hello, hello.length / 2)));
    }

    /** The token itself is no seed: a HELLO carrying it would take the sender's one place. */
    @MethodSource
    @FuzzTest
    void senderReadsHello(byte[] input) throws IOException {
        FuzzContract.allowLoopbackConnections();
        Answer answer;
        try (Socket peer = new Socket(LOOPBACK, sender.port())) {
            peer.setSoLinger(true, 0); // reset on close: no TIME_WAIT per input
            peer.setSoTimeout((int) PROMPTLY.toMillis());
            try {
                peer.getOutputStream().write(input);
                peer.shutdownOutput();
            } catch (SocketException closedEarly) {
                // the sender may refuse and close before it has read everything
            }
            answer = readUntilClosed(peer.getInputStream());
        }
        byte[] bytes = answer.bytes();
        if (bytes.length < 4) {
            assertTrue(bytes.length == 0 || answer.reset(), () -> "the sender answered " + HexFormat.of().formatHex(bytes));
            return;
        }
        int length = ByteBuffer.wrap(bytes).getInt();
        assertTrue(length == bytes.length - 4 || answer.reset() && length > bytes.length - 4,
                () -> "the sender answered more than one frame: " + HexFormat.of().formatHex(bytes));
        if (length == bytes.length - 4) {
            Wire.Message message = Wire.decode(Arrays.copyOfRange(bytes, 4, bytes.length));
            if (!(message instanceof Wire.Reject reject) || !PRE_AUTHENTICATION_REJECTIONS.contains(reject.reason())) {
                fail("an unauthenticated peer was answered " + message);
            }
        }
    }

    static Stream<Arguments> receiverReadsWelcome() {
        byte[] fingerprint = HexFormat.of().parseHex(PLAN.fingerprint());
        byte[] encoded = PlanCodec.encode(PLAN);
        BucketPlan otherTensors = BucketPlanner.plan(List.of(new TensorSpec("weight", DType.FLOAT32, 3, 5),
                new TensorSpec("other", DType.BFLOAT16, 5)), 64, 16);
        // Valid, for the right tensors, but with the second one 128 TiB into the bucket: buffers nobody can allocate.
        long far = 1L << 47;
        BucketPlan padded = PlanCodec.decode(new RawPlanWriter().header(1L << 48, 1L << 30, 2, 1, 2).varint(far + 10)
                .tensor("weight", DType.FLOAT32, new long[] {3, 5}, 0, 0, 60)
                .tensor("bias", DType.BFLOAT16, new long[] {5}, 0, far, 10).bytes());
        return Stream.of(
                seed("WELCOME", welcome(PLAN)),
                seed("WELCOME for other tensors", welcome(otherTensors)),
                seed("WELCOME whose plan pads a bucket to 128 TiB", welcome(padded)),
                seed("WELCOME, then GROUP", concat(welcome(PLAN), frame(new Wire.Group(1, 1, 2, 1000, new byte[36])))),
                seed("WELCOME of another transport", frame(new Wire.Welcome(1, "nccl", fingerprint, encoded))),
                seed("WELCOME with another fingerprint", frame(new Wire.Welcome(1, HostTcpTransport.NAME, new byte[32], encoded))),
                seed("REJECT", frame(new Wire.Reject(Wire.Reason.GROUP_FULL, "all 1 receiver places are taken"))),
                seed("PING", frame(new Wire.Ping())));
    }

    @MethodSource
    @FuzzTest
    void receiverReadsWelcome(byte[] input) throws Exception {
        FuzzContract.allowLoopbackConnections();
        Future<?> posing = peers.submit(() -> answerOneJoin(input));
        try (WeightReceiver receiver = WeightReceiver.builder().sender(LOOPBACK.getHostAddress(), posingAsSender.getLocalPort())
                .token(TOKEN).scatterInto(destinations).join(PROMPTLY)) {
            assertEquals(PLAN.tensors(), receiver.plan().tensors(), "a plan for other tensors was accepted");
        } catch (JoinRejectedException | ProtocolException | ConnectionLostException documented) {
            // join's documented outcomes for an answer that is refused, malformed or cut short
        }
        posing.get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Accepts the join, reads its HELLO, answers {@code input} and waits for the receiver to hang up. */
    private static Void answerOneJoin(byte[] input) throws IOException {
        try (Socket receiver = posingAsSender.accept()) {
            receiver.setSoLinger(true, 0);
            receiver.setSoTimeout((int) PROMPTLY.toMillis());
            DataInputStream in = new DataInputStream(receiver.getInputStream());
            byte[] hello = new byte[in.readInt()];
            in.readFully(hello);
            assertTrue(Wire.decode(hello) instanceof Wire.Hello, "the receiver opens with HELLO");
            try {
                receiver.getOutputStream().write(input);
                receiver.shutdownOutput();
            } catch (SocketException closedEarly) {
                // the receiver may give up before it has read everything
            }
            readUntilClosed(in);
        }
        return null;
    }

    /** What the peer sent before it closed; after a reset (it closed with our bytes unread) maybe not all. */
    private record Answer(byte[] bytes, boolean reset) {
    }

    private static Answer readUntilClosed(InputStream in) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        byte[] buffer = new byte[4096];
        try {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                bytes.write(buffer, 0, n);
            }
            return new Answer(bytes.toByteArray(), false);
        } catch (SocketException reset) {
            return new Answer(bytes.toByteArray(), true);
        }
    }

    private static byte[] welcome(BucketPlan plan) {
        return frame(new Wire.Welcome(1, HostTcpTransport.NAME, HexFormat.of().parseHex(plan.fingerprint()),
                PlanCodec.encode(plan)));
    }

    private static byte[] frame(Wire.Message message) {
        byte[] body = Wire.encode(message);
        return ByteBuffer.allocate(4 + body.length).putInt(body.length).put(body).array();
    }

    private static byte[] concat(byte[] first, byte[] second) {
        return ByteBuffer.allocate(first.length + second.length).put(first).put(second).array();
    }

    private static Arguments seed(String name, byte[] bytes) {
        return Arguments.of(Named.of(name, bytes));
    }
}
