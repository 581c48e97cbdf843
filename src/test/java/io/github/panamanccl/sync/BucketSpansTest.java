package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.HostBucketPacker;
import io.github.panamanccl.bucket.TensorSpec;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cut of a bucket into spans: on the sender, the spans' bytes in order are exactly what HostBucketPacker packs
 * (so the wire does not change); on the receiver, spans filled with those bytes and unstaged rebuild every tensor;
 * neighbours in memory share a span, small tensors share a staged one.
 */
class BucketSpansTest {

    @Test
    void sender_spans_hold_the_packed_bucket_for_split_small_large_and_empty_tensors() {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            SyncFixtures.fill(plan, sources, 3);
            assertTrue(plan.bucketCount() >= 3 && plan.pieceCount() > plan.tensorCount() - 1, "split tensors");
            assertSenderMatchesPacker(plan, Tensors.resolve(plan, sources, "source"), arena);
        }
    }

    @Test
    void receiver_spans_filled_with_the_buckets_and_unstaged_rebuild_every_tensor() {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            SyncFixtures.fill(plan, sources, 5);
            receiveEveryBucket(plan, Tensors.resolve(plan, sources, "source"),
                    Tensors.resolve(plan, destinations, "destination"), arena);
            assertNull(SyncFixtures.firstMismatch(plan, destinations, 5));
        }
    }

    @Test
    void tensors_adjacent_in_memory_travel_as_one_span_and_separate_ones_one_span_each() {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            specs.add(new TensorSpec("w" + i, DType.BFLOAT16, 5120)); // 10 KiB, a multiple of the alignment
        }
        BucketPlan plan = BucketPlanner.plan(specs, 1L << 20);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment[] flat = carve(plan, arena, new long[plan.tensorCount()]);
            for (BucketSpans.Side side : BucketSpans.Side.values()) {
                BucketSpans.Layout layout = BucketSpans.layout(plan, 0, flat, side);
                assertEquals(0, layout.localBytes(), side.name());
                assertEquals(1, layout.bind(MemorySegment.NULL).spans().length, side.name());
            }
            MemorySegment[] separate = separate(plan, arena);
            assertEquals(6, BucketSpans.layout(plan, 0, separate, BucketSpans.Side.SENDING).bind(MemorySegment.NULL)
                    .spans().length);
            assertSenderMatchesPacker(plan, flat, arena);
        }
    }

    @Test
    void small_tensors_and_the_padding_beside_them_travel_as_one_staged_span() {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            specs.add(new TensorSpec("norm" + i, DType.FLOAT16, 50)); // 100 bytes, then 156 of padding
        }
        BucketPlan plan = BucketPlanner.plan(specs, 1L << 20);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment[] tensors = separate(plan, arena);
            for (BucketSpans.Side side : BucketSpans.Side.values()) {
                BucketSpans.Layout layout = BucketSpans.layout(plan, 0, tensors, side);
                assertEquals(plan.bucketByteSize(0), layout.localBytes(), side.name());
                ByteBuffer[] spans = layout.bind(arena.allocate(layout.localBytes())).spans();
                assertEquals(1, spans.length, side.name());
                assertEquals(plan.bucketByteSize(0), spans[0].remaining(), side.name());
            }
            assertSenderMatchesPacker(plan, tensors, arena);
        }
    }

    /**
     * Between two tensors sent in place, the sender's padding is the shared zero region (no copy, no staging); the
     * receiver's lands in its local buffer, each padding at its own place, since every byte is checksummed.
     */
    @Test
    void padding_between_tensors_in_place_is_the_zero_region_on_the_sender_and_its_own_bytes_on_the_receiver() {
        List<TensorSpec> specs = List.of(new TensorSpec("a", DType.UINT8, 3000), new TensorSpec("b", DType.UINT8, 3000),
                new TensorSpec("c", DType.UINT8, 3000));
        BucketPlan plan = BucketPlanner.plan(specs, 1L << 20); // 3000 + 72 padding, twice
        try (Arena arena = Arena.ofShared()) {
            MemorySegment[] tensors = separate(plan, arena);
            BucketSpans.Layout sending = BucketSpans.layout(plan, 0, tensors, BucketSpans.Side.SENDING);
            assertEquals(0, sending.localBytes());
            ByteBuffer[] sent = sending.bind(MemorySegment.NULL).spans();
            assertEquals(List.of(3000, 72, 3000, 72, 3000), lengths(sent));
            assertTrue(sent[1].isReadOnly() && sent[3].isReadOnly(), "the shared zero region is read-only");

            BucketSpans.Layout receiving = BucketSpans.layout(plan, 0, separate(plan, arena), BucketSpans.Side.RECEIVING);
            assertEquals(144, receiving.localBytes());
            MemorySegment local = arena.allocate(receiving.localBytes());
            ByteBuffer[] received = receiving.bind(local).spans();
            assertEquals(List.of(3000, 72, 3000, 72, 3000), lengths(received));
            assertEquals(local.address(), MemorySegment.ofBuffer(received[1]).address());
            assertEquals(local.address() + 72, MemorySegment.ofBuffer(received[3]).address());
        }
    }

    @Test
    void a_run_of_small_tensors_adjacent_in_memory_is_sent_in_place_once_it_is_long_enough() {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            specs.add(new TensorSpec("bias" + i, DType.FLOAT32, 256)); // 1 KiB each, 10 KiB as a run
        }
        BucketPlan plan = BucketPlanner.plan(specs, 1L << 20);
        try (Arena arena = Arena.ofShared()) {
            BucketSpans.Layout layout = BucketSpans.layout(plan, 0, carve(plan, arena, new long[10]),
                    BucketSpans.Side.SENDING);
            assertEquals(0, layout.localBytes());
            assertEquals(1, layout.bind(MemorySegment.NULL).spans().length);
        }
    }

    /** Random inventories, caps, alignments and memory arrangements (one allocation each, or carved with gaps). */
    @Test
    void random_layouts_match_the_packer_and_round_trip() {
        DType[] dtypes = DType.values();
        for (int seed = 0; seed < 100; seed++) {
            Random random = new Random(seed);
            List<TensorSpec> specs = new ArrayList<>();
            int count = 1 + random.nextInt(40);
            for (int i = 0; i < count; i++) {
                DType dtype = dtypes[random.nextInt(dtypes.length)];
                long elements = switch (random.nextInt(4)) {
                    case 0 -> random.nextInt(3); // empty, a scalar or a pair
                    case 1 -> random.nextInt(600); // small
                    case 2 -> random.nextInt(8000); // around the small-run threshold
                    default -> random.nextInt(50_000); // larger than small caps: split
                };
                specs.add(new TensorSpec("t" + i, dtype, elements));
            }
            long cap = 1024L << random.nextInt(8); // 1 KiB .. 128 KiB
            long alignment = 1L << random.nextInt(13); // 1 .. 4 KiB
            BucketPlan plan = BucketPlanner.plan(specs, cap, alignment);
            try (Arena arena = Arena.ofShared()) {
                MemorySegment[] sources;
                if (random.nextBoolean()) {
                    sources = separate(plan, arena);
                } else {
                    long[] gaps = new long[plan.tensorCount()];
                    for (int t = 0; t < gaps.length; t++) {
                        gaps[t] = random.nextInt(3) == 0 ? random.nextInt(300) : 0;
                    }
                    sources = carve(plan, arena, gaps);
                }
                fillRandom(sources, random);
                String where = "seed " + seed + ": " + plan;
                assertSenderMatchesPacker(plan, sources, arena);
                MemorySegment[] destinations = random.nextBoolean() ? separate(plan, arena)
                        : carve(plan, arena, new long[plan.tensorCount()]);
                receiveEveryBucket(plan, sources, destinations, arena);
                for (int t = 0; t < plan.tensorCount(); t++) {
                    assertEquals(-1, sources[t].mismatch(destinations[t]), where + ", tensor " + t);
                }
            }
        }
    }

    /** For every bucket: the sender's staged spans, in order, are the packed bucket, and its checksum is theirs. */
    private static void assertSenderMatchesPacker(BucketPlan plan, MemorySegment[] sources, Arena arena) {
        MemorySegment packed = arena.allocate(Math.max(1, plan.maxBucketByteSize()));
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.pack(plan, k, sources, packed, 1);
            byte[] expected = packed.asSlice(0, plan.bucketByteSize(k)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            BucketSpans.Layout layout = BucketSpans.layout(plan, k, sources, BucketSpans.Side.SENDING);
            MemorySegment local = arena.allocate(Math.max(1, layout.localBytes()));
            local.fill((byte) 0x5a); // staging must overwrite every byte it sends, padding included
            BucketSpans spans = layout.bind(local);
            spans.stage();
            assertArrayEquals(expected, bytesOf(spans.spans()), "bucket " + k + " of " + plan);
            CRC32C crc = new CRC32C();
            crc.update(expected);
            assertEquals((int) crc.getValue(), spans.crc32c(), "bucket " + k);
        }
    }

    /** Packs every bucket from {@code sources}, pours it into the receiver's spans in order and unstages them. */
    private static void receiveEveryBucket(BucketPlan plan, MemorySegment[] sources, MemorySegment[] destinations,
            Arena arena) {
        MemorySegment packed = arena.allocate(Math.max(1, plan.maxBucketByteSize()));
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.pack(plan, k, sources, packed, 1);
            BucketSpans.Layout layout = BucketSpans.layout(plan, k, destinations, BucketSpans.Side.RECEIVING);
            BucketSpans spans = layout.bind(arena.allocate(Math.max(1, layout.localBytes())));
            ByteBuffer bucket = packed.asSlice(0, plan.bucketByteSize(k)).asByteBuffer();
            for (ByteBuffer span : spans.spans()) {
                int length = span.remaining();
                span.duplicate().put(bucket.slice(bucket.position(), length));
                bucket.position(bucket.position() + length);
            }
            assertEquals(0, bucket.remaining(), "the spans hold the whole bucket " + k);
            spans.unstage();
        }
    }

    private static byte[] bytesOf(ByteBuffer[] spans) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (ByteBuffer span : spans) {
            ByteBuffer copy = span.duplicate();
            byte[] bytes = new byte[copy.remaining()];
            copy.get(bytes);
            out.writeBytes(bytes);
        }
        return out.toByteArray();
    }

    private static List<Integer> lengths(ByteBuffer[] spans) {
        List<Integer> lengths = new ArrayList<>();
        for (ByteBuffer span : spans) {
            lengths.add(span.remaining());
        }
        return lengths;
    }

    /** One allocation per tensor. */
    private static MemorySegment[] separate(BucketPlan plan, Arena arena) {
        return Tensors.resolve(plan, SyncFixtures.allocate(plan, arena), "tensor");
    }

    /** Every tensor carved from one buffer, in plan order, {@code gaps[t]} bytes after tensor t. */
    private static MemorySegment[] carve(BucketPlan plan, Arena arena, long[] gaps) {
        long total = 0;
        for (int t = 0; t < plan.tensorCount(); t++) {
            total += plan.tensor(t).byteSize() + gaps[t];
        }
        MemorySegment flat = arena.allocate(Math.max(1, total), 64);
        MemorySegment[] tensors = new MemorySegment[plan.tensorCount()];
        long offset = 0;
        for (int t = 0; t < tensors.length; t++) {
            tensors[t] = flat.asSlice(offset, plan.tensor(t).byteSize());
            offset += plan.tensor(t).byteSize() + gaps[t];
        }
        flat.fill((byte) 0x77); // gaps hold bytes that must never travel
        return tensors;
    }

    private static void fillRandom(MemorySegment[] tensors, Random random) {
        for (MemorySegment tensor : tensors) {
            byte[] bytes = new byte[(int) tensor.byteSize()];
            random.nextBytes(bytes);
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, tensor, 0, bytes.length);
        }
    }
}
