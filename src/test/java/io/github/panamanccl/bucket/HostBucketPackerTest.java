package io.github.panamanccl.bucket;

import io.github.panamanccl.testing.Seed;
import io.github.panamanccl.testing.SeededCases;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Parallel and run-coalescing host packing: the bytes must be those of the sequential, piece-by-piece definition
 * whatever the thread count, split points and memory layout of the tensors.
 */
class HostBucketPackerTest {
    private static final byte GARBAGE = (byte) 0xA5;
    private static final byte SENTINEL = (byte) 0x3C;

    /** How the tensors lie in memory. */
    enum Layout {
        /** One allocation per tensor. */
        SEPARATE,
        /** One buffer, tensors back to back in plan order: pieces adjacent in a bucket are adjacent in memory. */
        BACK_TO_BACK,
        /** One buffer in plan order with an 8-byte gap after some tensors: runs must stop at every gap. */
        WITH_GAPS
    }

    /** Cases: {@link SeededCases}. */
    @ParameterizedTest
    @SeededCases(150)
    void parallelPackAndScatterEqualTheSequentialDefinition(Seed seed) {
        SplittableRandom random = seed.random();
        List<TensorSpec> inventory = PlanFixtures.randomInventory(random, Seed.intIn(random, 0, 40), 30);
        BucketPlan plan = BucketPlanner.plan(inventory, Seed.longIn(random, 8, 6_000), 1L << Seed.intIn(random, 0, 9));
        int parallelism = Seed.intIn(random, 1, 8);
        long minBytesPerThread = Seed.longIn(random, 1, 3_000);
        Layout layout = Seed.oneOf(random, Layout.values());
        try (Arena arena = Arena.ofShared()) {
            Tensors sources = Tensors.allocate(arena, inventory, layout, random);
            sources.fillContents();
            Tensors destinations = Tensors.allocate(arena, inventory, layout, random);
            for (int b = 0; b < plan.bucketCount(); b++) {
                MemorySegment sequential = arena.allocate(plan.bucketByteSize(b) + 7).fill(GARBAGE);
                HostBucketPacker.pack(plan, b, sources.segments, sequential, 1);
                assertPacked(plan, b, sources.segments, sequential);

                MemorySegment parallel = arena.allocate(plan.bucketByteSize(b) + 7).fill(GARBAGE);
                HostBucketPacker.pack(plan, b, sources.segments, parallel, parallelism, minBytesPerThread);
                assertEquals(-1, sequential.mismatch(parallel), "bucket " + b + " identical to the sequential pack");

                HostBucketPacker.scatter(plan, b, parallel, destinations.segments, parallelism, minBytesPerThread);
            }
            for (int t = 0; t < inventory.size(); t++) {
                assertEquals(-1, destinations.segments[t].mismatch(sources.segments[t]), "tensor " + t + " restored");
            }
            destinations.assertGapsUntouched();
        }
    }

    @Test
    void bucketsOfSeveralMebibytesAreSplitAcrossThreadsWithTheSameBytes() {
        // Five tensors of 3-7 MiB with odd sizes: padding and split points fall inside pieces and gaps.
        List<TensorSpec> inventory = List.of(
                new TensorSpec("a", DType.BFLOAT16, new long[] {1501, 2048}),
                new TensorSpec("b", DType.FLOAT32, new long[] {3, 577_777}),
                new TensorSpec("c", DType.UINT8, new long[] {7_340_033}),
                new TensorSpec("d", DType.BFLOAT16, new long[] {2048, 768}),
                new TensorSpec("e", DType.FLOAT64, new long[] {655_361}));
        BucketPlan plan = BucketPlanner.plan(inventory, 64L << 20);
        assertEquals(1, plan.bucketCount());
        assertTrue(plan.bucketByteSize(0) >= 3 * HostBucketPacker.MIN_BYTES_PER_THREAD, "large enough to split 3 ways");
        try (Arena arena = Arena.ofShared()) {
            Tensors sources = Tensors.allocate(arena, inventory, Layout.SEPARATE, new Random(1));
            sources.fillContents();
            MemorySegment sequential = arena.allocate(plan.bucketByteSize(0)).fill(GARBAGE);
            HostBucketPacker.pack(plan, 0, sources.segments, sequential, 1);
            assertPacked(plan, 0, sources.segments, sequential);
            for (int parallelism : new int[] {2, 3, 8}) {
                MemorySegment parallel = arena.allocate(plan.bucketByteSize(0)).fill(GARBAGE);
                HostBucketPacker.pack(plan, 0, sources.segments, parallel, parallelism);
                assertEquals(-1, sequential.mismatch(parallel), "parallelism " + parallelism);
                Tensors destinations = Tensors.allocate(arena, inventory, Layout.SEPARATE, new Random(2));
                HostBucketPacker.scatter(plan, 0, parallel, destinations.segments, parallelism);
                for (int t = 0; t < inventory.size(); t++) {
                    assertEquals(-1, destinations.segments[t].mismatch(sources.segments[t]), "tensor " + t);
                }
            }
        }
    }

    @Test
    void segmentsConfinedToTheCallerAreCopiedOnTheCaller() {
        List<TensorSpec> inventory = List.of(new TensorSpec("a", DType.UINT8, new long[] {4096}),
                new TensorSpec("b", DType.UINT8, new long[] {1000}));
        BucketPlan plan = BucketPlanner.plan(inventory, 1 << 20);
        try (Arena arena = Arena.ofConfined()) {
            Tensors sources = Tensors.allocate(arena, inventory, Layout.SEPARATE, new Random(3));
            sources.fillContents();
            MemorySegment bucket = arena.allocate(plan.bucketByteSize(0)).fill(GARBAGE);
            // Split points every byte on 8 threads: without the fallback the common pool would hit WrongThreadException.
            HostBucketPacker.pack(plan, 0, sources.segments, bucket, 8, 1);
            assertPacked(plan, 0, sources.segments, bucket);
            Tensors destinations = Tensors.allocate(arena, inventory, Layout.BACK_TO_BACK, new Random(4));
            HostBucketPacker.scatter(plan, 0, bucket, destinations.segments, 8, 1);
            assertEquals(-1, destinations.segments[1].mismatch(sources.segments[1]));
        }
    }

    @Test
    void badArgumentsAreRejectedBeforeAnyByteIsWritten() {
        List<TensorSpec> inventory = List.of(new TensorSpec("a", DType.UINT8, new long[] {100}),
                new TensorSpec("b", DType.UINT8, new long[] {50}));
        BucketPlan plan = BucketPlanner.plan(inventory, 1 << 20);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(100).fill((byte) 1);
            MemorySegment bucket = arena.allocate(plan.bucketByteSize(0)).fill(GARBAGE);

            IllegalArgumentException wrongSize = assertThrows(IllegalArgumentException.class,
                    () -> HostBucketPacker.pack(plan, 0, new MemorySegment[] {a, arena.allocate(49)}, bucket));
            assertTrue(wrongSize.getMessage().contains("tensor 1 (b)") && wrongSize.getMessage().contains("49"),
                    wrongSize.getMessage());
            assertEquals(-1, bucket.mismatch(arena.allocate(bucket.byteSize()).fill(GARBAGE)), "the first piece was not packed");

            IllegalArgumentException parallelism = assertThrows(IllegalArgumentException.class,
                    () -> HostBucketPacker.pack(plan, 0, new MemorySegment[] {a, arena.allocate(50)}, bucket, 0));
            assertTrue(parallelism.getMessage().contains("parallelism = 0"), parallelism.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> HostBucketPacker.scatter(plan, 0, bucket, new MemorySegment[] {a, arena.allocate(50)}, -1));

            MemorySegment writable = arena.allocate(100).fill((byte) 7);
            IllegalArgumentException readOnly = assertThrows(IllegalArgumentException.class,
                    () -> HostBucketPacker.scatter(plan, 0, bucket, new MemorySegment[] {writable, arena.allocate(50).asReadOnly()}));
            assertTrue(readOnly.getMessage().contains("tensor 1 (b)") && readOnly.getMessage().contains("read-only"),
                    readOnly.getMessage());
            assertEquals(-1, writable.mismatch(arena.allocate(100).fill((byte) 7)), "the first tensor was not scattered");
            assertThrows(IllegalArgumentException.class, () -> HostBucketPacker.pack(plan, 0,
                    new MemorySegment[] {a, arena.allocate(50)}, bucket.asReadOnly()));
        }
    }

    /** Pieces hold the tensors' bytes, padding is zero, bytes past the bucket are untouched. */
    private static void assertPacked(BucketPlan plan, int b, MemorySegment[] sources, MemorySegment bucket) {
        BitSet stored = new BitSet();
        for (BucketPlan.Piece piece : plan.piecesIn(b)) {
            assertEquals(-1, MemorySegment.mismatch(sources[piece.tensor()], piece.tensorOffset(),
                    piece.tensorOffset() + piece.length(), bucket, piece.bucketOffset(),
                    piece.bucketOffset() + piece.length()), "piece bytes " + piece);
            stored.set((int) piece.bucketOffset(), (int) (piece.bucketOffset() + piece.length()));
        }
        for (int i = stored.nextClearBit(0); i < plan.bucketByteSize(b); i = stored.nextClearBit(i + 1)) {
            assertEquals(0, bucket.get(ValueLayout.JAVA_BYTE, i), "padding byte " + i + " of bucket " + b);
        }
        for (long i = plan.bucketByteSize(b); i < bucket.byteSize(); i++) {
            assertEquals(GARBAGE, bucket.get(ValueLayout.JAVA_BYTE, i), "byte " + i + " past bucket " + b);
        }
    }

    /** Tensor segments in one of the layouts, garbage-filled; gaps between tensors hold a sentinel. */
    private record Tensors(MemorySegment[] segments, MemorySegment buffer, BitSet gaps, List<TensorSpec> inventory) {
        static Tensors allocate(Arena arena, List<TensorSpec> inventory, Layout layout, RandomGenerator random) {
            MemorySegment[] segments = new MemorySegment[inventory.size()];
            if (layout == Layout.SEPARATE) {
                for (int t = 0; t < segments.length; t++) {
                    long size = inventory.get(t).byteSize();
                    segments[t] = arena.allocate(Math.max(1, size)).asSlice(0, size).fill(GARBAGE);
                }
                return new Tensors(segments, null, new BitSet(), inventory);
            }
            long[] offsets = new long[segments.length];
            BitSet gaps = new BitSet();
            long end = 0;
            for (int t = 0; t < segments.length; t++) {
                offsets[t] = end;
                end += inventory.get(t).byteSize();
                if (layout == Layout.WITH_GAPS && random.nextInt(3) == 0) {
                    gaps.set((int) end, (int) end + 8);
                    end += 8;
                }
            }
            MemorySegment buffer = arena.allocate(Math.max(1, end)).fill(SENTINEL);
            for (int t = 0; t < segments.length; t++) {
                segments[t] = buffer.asSlice(offsets[t], inventory.get(t).byteSize()).fill(GARBAGE);
            }
            return new Tensors(segments, buffer, gaps, inventory);
        }

        void fillContents() {
            for (int t = 0; t < segments.length; t++) {
                try (Arena scratch = Arena.ofConfined()) {
                    segments[t].copyFrom(PlanFixtures.contents(scratch, inventory.get(t), t));
                }
            }
        }

        void assertGapsUntouched() {
            for (int i = gaps.nextSetBit(0); i >= 0; i = gaps.nextSetBit(i + 1)) {
                assertEquals(SENTINEL, buffer.get(ValueLayout.JAVA_BYTE, i), "gap byte " + i + " between tensors");
            }
        }
    }
}
