package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.testing.RawPlanWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A receiver states what it expects, and a sender's plan that differs is refused at join, naming what differs, with
 * the sender told why: destinations by name and size, and a budget for the buffers the plan makes it allocate. Plans
 * a real sender would not make come from a {@link PosingSender}.
 */
@Timeout(60)
class JoinExpectationsTest {
    private static final Duration JOIN = Duration.ofSeconds(10);
    private static final List<TensorSpec> SENT = List.of(
            new TensorSpec("layers.0.attn.weight", DType.FLOAT32, 64, 32),
            new TensorSpec("layers.0.mlp.weight", DType.BFLOAT16, 1024, 64),
            new TensorSpec("layers.0.norm.weight", DType.FLOAT16, 64));

    private final BlockingQueue<String> rejections = new LinkedBlockingQueue<>();
    private Arena arena;
    private WeightSender sender;

    @BeforeEach
    void start() {
        arena = Arena.ofShared();
        sender = WeightSender.builder().inventory(SENT, 64 << 10).hostSources(allocate(SENT)).receivers(1)
                .token(SyncFixtures.TOKEN).listener(new SyncListener() {
                    @Override
                    public void onJoinRejected(String peer, FailureReason reason, String message) {
                        rejections.add(reason + ": " + message);
                    }
                }).start();
    }

    @AfterEach
    void stop() {
        sender.close();
        arena.close();
    }

    private Map<String, MemorySegment> allocate(List<TensorSpec> specs) {
        return SyncFixtures.allocate(BucketPlanner.plan(specs, 1 << 20), arena);
    }

    private WeightReceiver.Builder receiver() {
        return WeightReceiver.builder().sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN);
    }

    /** The join fails with PLAN_MISMATCH; the sender hears the same reason. Returns the receiver's message. */
    private String assertDeclined(WeightReceiver.Builder builder) throws InterruptedException {
        JoinRejectedException e = assertThrows(JoinRejectedException.class, () -> builder.join(JOIN));
        assertEquals(FailureReason.PLAN_MISMATCH, e.reason(), e.getMessage());
        String heard = rejections.poll(10, TimeUnit.SECONDS);
        assertTrue(heard != null && heard.startsWith("PLAN_MISMATCH: the receiver declined: this receiver declines"
                + " the plan: "), String.valueOf(heard));
        assertTrue(e.getMessage().contains(heard.substring(heard.indexOf("this receiver declines"))),
                "the sender hears what the receiver says: " + heard + " / " + e.getMessage());
        return e.getMessage();
    }

    /** Untyped destinations are checked by name and size; a tensor without one is PLAN_MISMATCH, not an IAE. */
    @Test
    void a_plan_tensor_without_a_destination_is_a_plan_mismatch() throws Exception {
        Map<String, MemorySegment> missing = new HashMap<>(allocate(SENT));
        missing.remove("layers.0.norm.weight");
        String message = assertDeclined(receiver().scatterInto(missing));
        assertTrue(message.contains("no destination for tensor layers.0.norm.weight of the plan"), message);
    }

    // ---- the tensors a receiver expects: names, dtypes, shapes, order ----

    /**
     * The case: a receiver built for another inventory, same byte sizes (bf16 and fp16 swapped, a shape
     * transposed). Its destinations fit by name and size, so without expectInventory it joins; with it, the join is
     * declined naming the first tensor that differs and both its descriptions.
     */
    @Test
    void a_receiver_expecting_other_dtypes_or_shapes_of_the_same_sizes_is_declined_naming_the_tensor()
            throws Exception {
        List<TensorSpec> swapped = List.of(SENT.get(0), new TensorSpec("layers.0.mlp.weight", DType.FLOAT16, 1024, 64),
                new TensorSpec("layers.0.norm.weight", DType.BFLOAT16, 64));
        Map<String, MemorySegment> sameSizes = allocate(swapped);
        String message = assertDeclined(receiver().scatterInto(sameSizes).expectInventory(swapped));
        assertTrue(message.contains("tensor layers.0.mlp.weight is bfloat16 [1024, 64] in the sender's plan, this "
                + "receiver expects float16 [1024, 64]"), message);

        List<TensorSpec> transposed = List.of(new TensorSpec("layers.0.attn.weight", DType.FLOAT32, 32, 64),
                SENT.get(1), SENT.get(2));
        message = assertDeclined(receiver().scatterInto(allocate(transposed)).expectInventory(transposed));
        assertTrue(message.contains("tensor layers.0.attn.weight is float32 [64, 32] in the sender's plan, this "
                + "receiver expects float32 [32, 64]"), message);

        try (WeightReceiver unchecked = receiver().scatterInto(sameSizes).join(JOIN)) {
            assertEquals(SENT, unchecked.plan().tensors(), "names and sizes alone let it in");
        }
    }

    @Test
    void a_receiver_expecting_another_order_or_other_tensors_is_declined_naming_the_first_difference()
            throws Exception {
        List<TensorSpec> reordered = List.of(SENT.get(1), SENT.get(0), SENT.get(2));
        String message = assertDeclined(receiver().scatterInto(allocate(SENT)).expectInventory(reordered));
        assertTrue(message.contains("tensor 0 of the sender's plan is layers.0.attn.weight, this receiver expects "
                + "layers.0.mlp.weight, which the plan has at position 1"), message);

        List<TensorSpec> longer = List.of(SENT.get(0), SENT.get(1), SENT.get(2),
                new TensorSpec("lm_head.weight", DType.BFLOAT16, 8));
        message = assertDeclined(receiver().scatterInto(allocate(SENT)).expectInventory(longer));
        assertTrue(message.contains("the sender's plan has 3 tensors, this receiver expects 4: tensor lm_head.weight is"
                + " missing"), message);

        message = assertDeclined(receiver().scatterInto(allocate(SENT)).expectInventory(SENT.subList(0, 2)));
        assertTrue(message.contains("the sender's plan has 3 tensors, this receiver expects 2: tensor "
                + "layers.0.norm.weight is not expected"), message);
    }

    /**
     * A receiver pins the model by its inventory fingerprint without knowing the sender's bucket size (64 KiB here;
     * the receiver computes the fingerprint from the tensors alone), and a fingerprint of another model is declined
     * naming both; expectPlan of a plan of the same tensors at another bucket size is refused by the sender.
     */
    @Test
    void an_inventory_fingerprint_admits_the_model_at_any_bucket_size_and_refuses_another() throws Exception {
        String other = Inventory.fingerprint(List.of(SENT.get(0), SENT.get(1)));
        String message = assertDeclined(receiver().scatterInto(allocate(SENT)).expectInventory(other));
        assertTrue(message.contains("the sender's 3 tensors have inventory fingerprint " + Inventory.fingerprint(SENT)
                + ", this receiver requires " + other), message);

        JoinRejectedException refused = assertThrows(JoinRejectedException.class, () -> receiver()
                .scatterInto(allocate(SENT)).expectPlan(BucketPlanner.plan(SENT, 1 << 20).fingerprint()).join(JOIN));
        assertEquals(FailureReason.PLAN_MISMATCH, refused.reason(), refused.getMessage());
        assertThrows(IllegalArgumentException.class, () -> receiver().expectInventory("abc"));
        try (WeightReceiver pinned = receiver().scatterInto(allocate(SENT)).expectInventory(SENT)
                .expectInventory(Inventory.fingerprint(SENT).toUpperCase(java.util.Locale.ROOT)).join(JOIN)) {
            assertEquals(Inventory.fingerprint(SENT), pinned.plan().inventoryFingerprint());
            assertTrue(!BucketPlanner.plan(SENT, 1 << 20).fingerprint().equals(pinned.plan().fingerprint()),
                    "the plan fingerprint depends on the bucket size");
        }
    }

    // ---- what a plan may make the receiver allocate ----

    /**
     * A WELCOME of about 200 bytes whose valid plan, for the receiver's own tensors, pads its bucket to 1 GiB: the
     * default budget (twice the tensors plus 16 MiB) refuses it before anything is allocated, naming the sizes and
     * the option; the posing sender hears PROTOCOL and the connection is closed.
     */
    @Test
    void a_plan_padded_far_beyond_the_tensors_is_refused_before_anything_is_allocated() throws Exception {
        byte[] welcome = PosingSender.welcome(padded(1L << 30));
        assertTrue(welcome.length < 300, welcome.length + " bytes");
        long liveBefore = NativeMemoryLedger.liveBytes();
        try (PosingSender posing = new PosingSender(JOIN)) {
            Future<List<Wire.Message>> told = posing.answerNextJoin(welcome, false);
            ProtocolException e = assertThrows(ProtocolException.class, () -> paddedReceiver(posing).join(JOIN));
            assertTrue(e.getMessage().contains("the sender's plan needs 1073741834 bytes of STAGED receive buffers (1 "
                    + "buckets, 1073741834 bytes, the largest 1073741834, for 70 bytes of tensors), over this "
                    + "receiver's limit of 16777356 bytes"), e.getMessage());
            assertTrue(e.getMessage().contains("raise it with maxBufferBytes(...)"), e.getMessage());
            assertEquals(liveBefore, NativeMemoryLedger.liveBytes(), "nothing was allocated");
            assertRejectedWith(FailureReason.PROTOCOL, told);
        }
    }

    /**
     * Within a raised budget, buffers that cannot be allocated at all (almost 256 TiB: more than a process's address
     * space, whatever the kernel's overcommit policy) are a ProtocolException naming the
     * plan's sizes, with the OutOfMemoryError as its cause, and the Error does not skip the cleanup: the sender is
     * told, and the connection and its thread end (first fuzz campaign's finding).
     */
    @Test
    void buffers_that_cannot_be_allocated_are_a_protocol_error_and_leave_nothing_behind() throws Exception {
        long liveBefore = NativeMemoryLedger.liveBytes();
        try (PosingSender posing = new PosingSender(JOIN)) {
            Future<List<Wire.Message>> told = posing.answerNextJoin(PosingSender.welcome(padded((1L << 48) - (1L << 30))), false);
            ProtocolException e = assertThrows(ProtocolException.class,
                    () -> paddedReceiver(posing).maxBufferBytes(Long.MAX_VALUE).join(JOIN));
            assertInstanceOf(OutOfMemoryError.class, e.getCause());
            assertTrue(e.getMessage().startsWith("welcome.plan needs STAGED receive buffers that cannot be allocated "
                    + "(1 buckets, 281473902968842 bytes, the largest 281473902968842, for 70 bytes of tensors)"),
                    e.getMessage());
            assertEquals(liveBefore, NativeMemoryLedger.liveBytes());
            assertRejectedWith(FailureReason.PROTOCOL, told);
        }
    }

    /**
     * A receiver that allocates its storage from the sender's plan checks the same: the tensors it expects, and
     * the storage (two copies when it flips) against the budget, before anything is allocated.
     */
    @Test
    void a_receiver_allocating_storage_from_the_plan_checks_its_tensors_and_the_budget_first() throws Exception {
        List<TensorSpec> swapped = List.of(SENT.get(0), new TensorSpec("layers.0.mlp.weight", DType.FLOAT16, 1024, 64),
                SENT.get(2));
        String message = assertDeclined(receiver().allocateStorage().expectInventory(swapped));
        assertTrue(message.contains("tensor layers.0.mlp.weight is bfloat16 [1024, 64] in the sender's plan"), message);

        long liveBefore = NativeMemoryLedger.liveBytes();
        try (PosingSender posing = new PosingSender(JOIN)) {
            Future<List<Wire.Message>> told = posing.answerNextJoin(PosingSender.welcome(padded(1L << 30)), false);
            ProtocolException e = assertThrows(ProtocolException.class, () -> WeightReceiver.builder()
                    .sender("127.0.0.1", posing.port()).token(SyncFixtures.TOKEN).allocateStorage().join(JOIN));
            assertTrue(e.getMessage().contains("the sender's plan needs 2147483668 bytes of storage (2 copies of 1 "
                    + "buckets, 1073741834 bytes"), e.getMessage());
            assertTrue(e.getMessage().contains("raise it with maxBufferBytes(...)"), e.getMessage());
            assertEquals(liveBefore, NativeMemoryLedger.liveBytes(), "nothing was allocated");
            assertRejectedWith(FailureReason.PROTOCOL, told);
        }
    }

    private WeightReceiver.Builder paddedReceiver(PosingSender posing) {
        List<TensorSpec> tensors = List.of(new TensorSpec("weight", DType.FLOAT32, 3, 5),
                new TensorSpec("bias", DType.BFLOAT16, 5));
        return WeightReceiver.builder().sender("127.0.0.1", posing.port()).token(SyncFixtures.TOKEN)
                .scatterInto(SyncFixtures.allocate(BucketPlanner.plan(tensors, 1 << 10), arena));
    }

    /** A valid plan of the padded receiver's tensors whose second tensor starts {@code offset} bytes into the bucket. */
    private static BucketPlan padded(long offset) {
        return PlanCodec.decode(new RawPlanWriter().header(1L << 48, 1L << 30, 2, 1, 2).varint(offset + 10)
                .tensor("weight", DType.FLOAT32, new long[] {3, 5}, 0, 0, 60)
                .tensor("bias", DType.BFLOAT16, new long[] {5}, 0, offset, 10).bytes());
    }

    /** The receiver told the posing sender one REJECT of {@code reason}, then closed the connection. */
    private static void assertRejectedWith(FailureReason reason, Future<List<Wire.Message>> told) throws Exception {
        List<Wire.Message> messages = told.get(30, TimeUnit.SECONDS).stream()
                .filter(m -> !(m instanceof Wire.Heartbeat)).toList();
        assertEquals(1, messages.size(), messages.toString());
        assertEquals(reason, assertInstanceOf(Wire.Reject.class, messages.getFirst()).reason(), messages.toString());
    }
}
