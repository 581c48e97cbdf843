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

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
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
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Coverage-guided fuzzing of the control-plane handshake (protocol version {@value Wire#PROTOCOL_VERSION}) over real
 * sockets, both ways. {@link #senderReadsHello}: the bytes an unauthenticated peer sends a live {@link WeightSender}
 * (length-prefixed frames, read under the handshake's frame limit; a JOIN_REQUEST is expected) are answered by at most
 * one REJECT, never a WELCOME, and the connection is closed promptly. {@link #receiverReadsWelcome}: the bytes a peer
 * posing as the sender answers a joining {@link WeightReceiver} with end {@code join} in a receiver for exactly its
 * destinations' tensors or in one of its documented exceptions, promptly; the receiver then
 * tells the posing sender at most one ACCEPT (only when it joined) or REJECT, and closes its connection: nothing of a
 * failed join stays behind. Seeds: the methods of the same names, plus the corpora in
 * src/test/resources/io/github/panamanccl/sync/HandshakeFuzzTestInputs (see src/test/FUZZING.md).
 */
class HandshakeFuzzTest {
    private static final String TOKEN = "fuzz-token";
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    /** How long either side may take to finish with one input; a real peer needs milliseconds. */
    private static final Duration PROMPTLY = Duration.ofSeconds(5);
    private static final Set<FailureReason> PRE_AUTHENTICATION_REJECTIONS = Set.of(FailureReason.PROTOCOL,
            FailureReason.WRONG_TOKEN, FailureReason.BUSY);

    private static final BucketPlan PLAN = BucketPlanner.plan(List.of(new TensorSpec("weight", DType.FLOAT32, 3, 5),
            new TensorSpec("bias", DType.BFLOAT16, 5)), 64, 16);

    private static Arena arena;
    private static Map<String, MemorySegment> destinations;
    private static WeightSender sender;
    private static PosingSender posingAsSender;

    @BeforeAll
    static void start() throws IOException {
        arena = Arena.ofShared();
        destinations = SyncFixtures.allocate(PLAN, arena);
        // One sender serves every input: a handshake that is refused leaves nothing behind.
        sender = WeightSender.builder().plan(PLAN).hostSources(SyncFixtures.allocate(PLAN, arena)).receivers(1)
                .token(TOKEN).start();
        posingAsSender = new PosingSender(PROMPTLY);
    }

    @AfterAll
    static void stop() throws IOException {
        posingAsSender.close();
        sender.close();
        arena.close();
    }

    static Stream<Arguments> senderReadsHello() {
        byte[] wrongToken = "wrong-token".getBytes(StandardCharsets.UTF_8);
        byte[] request = frame(new Wire.JoinRequest(Wire.PROTOCOL_VERSION, wrongToken, new byte[0], "engine-0"));
        return Stream.of(
                seed("JOIN_REQUEST with a wrong token", request),
                seed("JOIN_REQUEST expecting the plan, wrong token", frame(new Wire.JoinRequest(Wire.PROTOCOL_VERSION,
                        wrongToken, HexFormat.of().parseHex(PLAN.fingerprint()), "engine-1"))),
                seed("JOIN_REQUEST of protocol version 1", frame(new Wire.JoinRequest(1, new byte[4], new byte[0], ""))),
                seed("READY instead of JOIN_REQUEST", frame(new Wire.Ready(1))),
                seed("ACCEPT before any WELCOME", frame(new Wire.Accept())),
                seed("JOIN_REQUEST twice", concat(request, request)),
                seed("a frame of length 0", new byte[4]),
                seed("a frame over the handshake limit", ByteBuffer.allocate(8)
                        .putInt(SenderControl.HANDSHAKE_FRAME_BYTES + 1).array()),
                seed("half a frame", Arrays.copyOf(request, request.length / 2)));
    }

    /** The token itself is no seed: a JOIN_REQUEST carrying it would take the sender's one place. */
    @MethodSource
    @FuzzTest
    void senderReadsHello(byte[] input) throws IOException {
        FuzzContract.allowLoopbackConnections();
        PosingSender.Answer answer;
        try (Socket peer = new Socket(LOOPBACK, sender.port())) {
            peer.setSoLinger(true, 0); // reset on close: no TIME_WAIT per input
            peer.setSoTimeout((int) PROMPTLY.toMillis());
            try {
                peer.getOutputStream().write(input);
                peer.shutdownOutput();
            } catch (SocketException closedEarly) {
                // the sender may refuse and close before it has read everything
            }
            answer = PosingSender.readUntilClosed(peer.getInputStream(), PROMPTLY);
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
                seed("WELCOME, then FORM_GROUP", concat(welcome(PLAN),
                        frame(new Wire.FormGroup(1, 1, 1, 2, 1000, new byte[36])))),
                seed("WELCOME of another transport", frame(new Wire.Welcome(1, "nccl", fingerprint, encoded))),
                seed("WELCOME with another fingerprint", frame(new Wire.Welcome(1, HostTcpTransport.NAME, new byte[32],
                        encoded))),
                seed("REJECT", frame(new Wire.Reject(FailureReason.GROUP_FULL, "all 1 receiver places are taken"))),
                seed("HEARTBEAT", frame(new Wire.Heartbeat())));
    }

    @MethodSource
    @FuzzTest
    void receiverReadsWelcome(byte[] input) throws Exception {
        FuzzContract.allowLoopbackConnections();
        Future<List<Wire.Message>> posing = posingAsSender.answerNextJoin(input, true);
        boolean joined = false;
        try (WeightReceiver receiver = WeightReceiver.builder().sender(LOOPBACK.getHostAddress(), posingAsSender.port())
                .token(TOKEN).scatterInto(destinations).join(PROMPTLY)) {
            assertEquals(PLAN.tensors(), receiver.plan().tensors(), "a plan for other tensors was accepted");
            joined = true;
        } catch (JoinRejectedException | ProtocolException | ConnectionLostException documented) {
            // join's documented outcomes for an answer that is refused, malformed or cut short
        }
        List<Wire.Message> told = posing.get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        String outcome = joined ? "a receiver that joined" : "a failed join";
        long accepts = told.stream().filter(Wire.Accept.class::isInstance).count();
        long rejects = told.stream().filter(Wire.Reject.class::isInstance).count();
        assertTrue(accepts <= (joined ? 1 : 0) && rejects <= 1 && accepts + rejects <= 1
                && told.stream().allMatch(m -> m instanceof Wire.Accept || m instanceof Wire.Reject
                || m instanceof Wire.Heartbeat), () -> outcome + " told the sender " + told);
    }

    private static byte[] welcome(BucketPlan plan) {
        return PosingSender.welcome(plan);
    }

    private static byte[] frame(Wire.Message message) {
        return PosingSender.frame(message);
    }

    private static byte[] concat(byte[] first, byte[] second) {
        return ByteBuffer.allocate(first.length + second.length).put(first).put(second).array();
    }

    private static Arguments seed(String name, byte[] bytes) {
        return Arguments.of(Named.of(name, bytes));
    }
}
