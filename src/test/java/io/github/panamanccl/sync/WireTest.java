package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.TensorSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class WireTest {

    @Test
    void every_message_survives_encoding() {
        List<Wire.Message> messages = List.of(
                new Wire.JoinRequest(2, new byte[] {1, 2}, new byte[32], "engine-0 \u00e9"),
                new Wire.Welcome(7, "host-tcp", new byte[32], new byte[] {9, 8, 7}), new Wire.Accept(),
                new Wire.Reject(FailureReason.WRONG_TOKEN, "no"),
                new Wire.FormGroup(41, 3, 2, 4, 1000, new byte[] {5}), new Wire.GroupReady(41),
                new Wire.Begin(3, 42, new byte[32], 5000), new Wire.Ready(42), new Wire.Done(42),
                new Wire.Failed(42, FailureReason.CORRUPT_BUCKET, "crc"),
                new Wire.Abort(42, FailureReason.PEER_LOST, 2, "rank 2 died"), new Wire.Heartbeat());
        for (Wire.Message m : messages) {
            Wire.Message back = Wire.decode(Wire.encode(m));
            assertEquals(m.getClass(), back.getClass());
            assertEquals(Arrays.deepToString(fields(m)), Arrays.deepToString(fields(back)), m.toString());
        }
    }

    private static Object[] fields(Wire.Message m) {
        return Arrays.stream(m.getClass().getRecordComponents()).map(c -> {
            try {
                return c.getAccessor().invoke(m);
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        }).toArray();
    }

    @Test
    void malformed_frames_are_rejected_naming_the_field() {
        byte[] begin = Wire.encode(new Wire.Begin(1, 2, new byte[32], 100));
        ProtocolException truncated = assertThrows(ProtocolException.class,
                () -> Wire.decode(Arrays.copyOf(begin, begin.length - 3)));
        assertTrue(truncated.getMessage().startsWith("begin.deadlineMillis needs 8 bytes"), truncated.getMessage());

        byte[] trailing = Arrays.copyOf(begin, begin.length + 1);
        assertTrue(assertThrows(ProtocolException.class, () -> Wire.decode(trailing)).getMessage()
                .contains("1 trailing bytes"));

        assertEquals("message type 99 is unknown",
                assertThrows(ProtocolException.class, () -> Wire.decode(new byte[] {99})).getMessage());

        byte[] rootRank = Wire.encode(new Wire.FormGroup(1, 1, 0, 3, 10, new byte[0]));
        assertTrue(assertThrows(ProtocolException.class, () -> Wire.decode(rootRank)).getMessage()
                .contains("formGroup.rank 0 / formGroup.worldSize 3"));

        byte[] hello = Wire.encode(new Wire.JoinRequest(2, new byte[Wire.MAX_TOKEN_BYTES + 1], new byte[0], "x"));
        assertTrue(assertThrows(ProtocolException.class, () -> Wire.decode(hello)).getMessage()
                .startsWith("joinRequest.token.length is 1025"));

        byte[] badMagic = Wire.encode(new Wire.JoinRequest(2, new byte[1], new byte[0], "x"));
        badMagic[1] = 0;
        assertTrue(assertThrows(ProtocolException.class, () -> Wire.decode(badMagic)).getMessage()
                .startsWith("joinRequest.magic"));
    }

    /**
     * A long text is cut to its first 1000 chars, one less when the 1000th is the first half of a surrogate pair: a
     * lone half would travel as '?' (found by review of the fuzz target's text rule).
     */
    @Test
    void a_long_text_is_cut_whole_characters_only() {
        String emoji = "\uD83D\uDE80"; // one code point, two chars
        String pairAtTheCut = "a".repeat(Wire.MAX_TEXT_CHARS - 1) + emoji + "tail";
        Wire.Reject back = (Wire.Reject) Wire.decode(Wire.encode(new Wire.Reject(FailureReason.PROTOCOL, pairAtTheCut)));
        assertEquals("a".repeat(Wire.MAX_TEXT_CHARS - 1), back.message());

        String pairBeforeTheCut = "a".repeat(Wire.MAX_TEXT_CHARS - 2) + emoji + "tail";
        back = (Wire.Reject) Wire.decode(Wire.encode(new Wire.Reject(FailureReason.PROTOCOL, pairBeforeTheCut)));
        assertEquals(pairBeforeTheCut.substring(0, Wire.MAX_TEXT_CHARS), back.message());

        String exactly = "b".repeat(Wire.MAX_TEXT_CHARS);
        assertEquals(exactly, ((Wire.Reject) Wire.decode(Wire.encode(new Wire.Reject(FailureReason.PROTOCOL,
                exactly + "c")))).message());
    }

    /** The small-frame limit (unauthenticated senders' frames, and every frame after the plan) fits the longest message. */
    @Test
    void every_message_but_the_welcome_fits_a_small_frame() {
        String longest = "\u00e9".repeat(Wire.MAX_TEXT_CHARS); // 2 UTF-8 bytes per char
        List<Wire.Message> largest = List.of(
                new Wire.JoinRequest(2, new byte[Wire.MAX_TOKEN_BYTES], new byte[Wire.MAX_FINGERPRINT_BYTES],
                        "\u20ac".repeat(Wire.MAX_TEXT_CHARS)), // 3 bytes per char: the longest text there is
                new Wire.Reject(FailureReason.PROTOCOL, longest),
                new Wire.FormGroup(1, 1, 1, 2, 1, new byte[Wire.MAX_RENDEZVOUS_BYTES]),
                new Wire.Begin(1, 1, new byte[Wire.MAX_FINGERPRINT_BYTES], 1),
                new Wire.Failed(1, FailureReason.PROTOCOL, longest),
                new Wire.Abort(1, FailureReason.PROTOCOL, 1, longest));
        for (Wire.Message m : largest) {
            assertTrue(Wire.encode(m).length <= Wire.MAX_SMALL_FRAME_BYTES, m.getClass().getSimpleName() + ": "
                    + Wire.encode(m).length);
        }
        // What a peer may send is larger than what we encode (texts up to MAX_TEXT_BYTES); the longest is a JOIN_REQUEST.
        int longestJoinRequest = 1 + 4 + 4 + (4 + Wire.MAX_TOKEN_BYTES) + (4 + Wire.MAX_FINGERPRINT_BYTES)
                + (4 + Wire.MAX_TEXT_BYTES);
        assertEquals(5205, longestJoinRequest);
        assertTrue(longestJoinRequest <= Wire.MAX_SMALL_FRAME_BYTES);
    }

    /** Reasons travel as fixed codes, not enum positions: every one round-trips, and the codes never move. */
    @Test
    void reasons_travel_as_fixed_codes_and_an_unknown_code_is_a_protocol_error() {
        java.util.Set<Integer> codes = new java.util.HashSet<>();
        for (FailureReason reason : FailureReason.values()) {
            assertTrue(codes.add(reason.code()), "code " + reason.code() + " used twice");
            Wire.Failed back = (Wire.Failed) Wire.decode(Wire.encode(new Wire.Failed(1, reason, "")));
            assertEquals(reason, back.reason());
        }
        assertEquals(1, FailureReason.WRONG_TOKEN.code());
        assertEquals(6, FailureReason.DEADLINE.code());
        assertEquals(13, FailureReason.LOCAL_ERROR.code());
        assertEquals(14, FailureReason.BUSY.code());
        byte[] reject = Wire.encode(new Wire.Reject(FailureReason.DEADLINE, "late"));
        assertEquals(6, reject[1], "the code follows the message type byte");

        for (int unknown : new int[] {0, 8, 15, 255}) { // 8 is retired
            byte[] abort = Wire.encode(new Wire.Abort(9, FailureReason.PEER_LOST, 1, "x"));
            abort[1 + 8] = (byte) unknown; // after the type byte and the version
            ProtocolException e = assertThrows(ProtocolException.class, () -> Wire.decode(abort));
            assertEquals("abort.reason " + unknown + " is not a known reason code", e.getMessage());
        }
    }

    @Test
    void a_receiver_refuses_a_plan_frame_larger_than_its_limit() {
        List<TensorSpec> many = new java.util.ArrayList<>();
        for (int i = 0; i < 300; i++) {
            many.add(new TensorSpec("model.layers." + i + ".mlp.experts." + (i * 7919 % 1000) + ".w", DType.BFLOAT16, 8));
        }
        BucketPlan plan = BucketPlanner.plan(many, 1 << 20);
        try (Arena arena = Arena.ofShared();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(1).token(SyncFixtures.TOKEN).start()) {
            FrameTooLargeException e = assertThrows(FrameTooLargeException.class,
                    () -> WeightReceiver.builder().sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN)
                            .maxFrameBytes(1024).deliverTo(b -> { }).join(Duration.ofSeconds(5)));
            assertEquals(1024, e.maxBytes());
            assertTrue(e.announcedBytes() > 1024);
        }
    }

    @Test
    void tokens_compare_by_digest() {
        byte[] digest = Tokens.digest(Tokens.bytes("secret"));
        assertTrue(Tokens.matches(digest, Tokens.bytes("secret")));
        assertEquals(false, Tokens.matches(digest, Tokens.bytes("secreT")));
        assertEquals(false, Tokens.matches(digest, Tokens.bytes("secret-but-longer")));
        assertArrayEquals(digest, Tokens.digest("secret".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    }
}
