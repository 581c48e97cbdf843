package io.github.panamanccl.bucket;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Random;
import java.util.random.RandomGenerator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Test inventories, tensor contents and an independent checker of the plan invariants. */
final class PlanFixtures {
    private static final String[] NAME_PARTS = {"layers", "mlp", "experts", "gate_proj", "weight", "é", "中文", "\uD83D\uDE00"};

    private PlanFixtures() {
    }

    /** A random inventory: every dtype, scalars, empty tensors, odd sizes, some tensors far larger than small caps. */
    static List<TensorSpec> randomInventory(RandomGenerator random, int count, int maxDim) {
        DType[] types = DType.values();
        List<TensorSpec> tensors = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int rank = random.nextInt(4);
            long[] shape = new long[rank];
            for (int axis = 0; axis < rank; axis++) {
                int kind = random.nextInt(20);
                shape[axis] = kind == 0 ? 0 : kind < 3 ? 1 + random.nextInt(maxDim * 4) : 1 + random.nextInt(maxDim);
            }
            String name = "model." + i + "." + NAME_PARTS[random.nextInt(NAME_PARTS.length)];
            tensors.add(new TensorSpec(name, types[random.nextInt(types.length)], shape));
        }
        return tensors;
    }

    /** Deterministic pseudo-random bytes for tensor {@code index}. */
    static MemorySegment contents(Arena arena, TensorSpec spec, int index) {
        MemorySegment segment = arena.allocate(Math.max(1, spec.byteSize()), 8).asSlice(0, spec.byteSize());
        Random random = new Random(index * 0x9E3779B97F4A7C15L + spec.byteSize());
        long i = 0;
        for (; i + 8 <= spec.byteSize(); i += 8) {
            segment.set(ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
        }
        for (; i < spec.byteSize(); i++) {
            segment.set(ValueLayout.JAVA_BYTE, i, (byte) random.nextInt());
        }
        return segment;
    }

    /**
     * Checks every layout rule from the plan's public accessors only: tensors as given, aligned pieces inside buckets,
     * buckets within the cap and ending at their last piece, no overlap, every tensor byte stored exactly once,
     * split tensors in consecutive buckets, bucket piece lists matching tensor piece lists.
     */
    static void assertValidLayout(BucketPlan plan, List<TensorSpec> inventory, long cap, long alignment) {
        assertEquals(inventory, plan.tensors());
        assertEquals(cap, plan.bucketCapBytes());
        assertEquals(alignment, plan.alignment());
        List<List<BucketPlan.Piece>> byBucket = new ArrayList<>();
        for (int b = 0; b < plan.bucketCount(); b++) {
            byBucket.add(new ArrayList<>());
            long size = plan.bucketByteSize(b);
            assertTrue(size > 0 && size <= cap, "bucket " + b + " size " + size);
        }
        long total = 0;
        int pieces = 0;
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            long covered = 0;
            int previousBucket = -1;
            for (BucketPlan.Piece piece : plan.piecesOf(t)) {
                assertEquals(t, piece.tensor());
                assertEquals(covered, piece.tensorOffset(), "pieces of " + spec + " contiguous and in order");
                assertEquals(0, piece.bucketOffset() % alignment, "aligned " + piece);
                assertTrue(piece.length() > 0 && piece.length() % spec.dtype().byteSize() == 0, "whole elements " + piece);
                assertTrue(piece.bucketOffset() + piece.length() <= plan.bucketByteSize(piece.bucket()), "inside bucket " + piece);
                if (previousBucket >= 0) {
                    assertEquals(previousBucket + 1, piece.bucket(), "split pieces in consecutive buckets " + piece);
                }
                previousBucket = piece.bucket();
                covered += piece.length();
                byBucket.get(piece.bucket()).add(piece);
                pieces++;
            }
            assertEquals(spec.byteSize(), covered, "bytes of " + spec + " covered");
            assertEquals(covered > 0 && plan.piecesOf(t).size() > 1, plan.isSplit(t));
            total += covered;
        }
        assertEquals(pieces, plan.pieceCount());
        assertEquals(total, plan.totalTensorBytes());
        for (int b = 0; b < plan.bucketCount(); b++) {
            List<BucketPlan.Piece> inBucket = byBucket.get(b);
            assertEquals(inBucket, plan.piecesIn(b), "piecesIn(" + b + ")");
            assertTrue(!inBucket.isEmpty(), "bucket " + b + " holds a piece");
            long end = 0;
            for (BucketPlan.Piece piece : inBucket) {
                assertTrue(piece.bucketOffset() >= end, "no overlap in bucket " + b + " at " + piece);
                end = piece.bucketOffset() + piece.length();
            }
            assertEquals(plan.bucketByteSize(b), end, "bucket " + b + " ends at its last piece");
        }
    }

    /**
     * Rules of this planner beyond validity: padding only for alignment, and a new bucket only when the next
     * tensor did not fit in the previous one (or the previous was filled by a split).
     */
    static void assertTightPacking(BucketPlan plan) {
        for (int b = 0; b < plan.bucketCount(); b++) {
            long end = 0;
            for (BucketPlan.Piece piece : plan.piecesIn(b)) {
                assertTrue(piece.bucketOffset() - end < plan.alignment(), "padding below alignment at " + piece);
                end = piece.bucketOffset() + piece.length();
            }
            if (b > 0) {
                BucketPlan.Piece first = plan.piecesIn(b).get(0);
                assertEquals(0, first.bucketOffset());
                long previousEnd = plan.bucketByteSize(b - 1);
                long aligned = (previousEnd + plan.alignment() - 1) / plan.alignment() * plan.alignment();
                if (first.tensorOffset() == 0 && !plan.isSplit(first.tensor())) {
                    assertTrue(aligned + first.length() > plan.bucketCapBytes(), "bucket " + b + " opened needlessly");
                }
            }
        }
    }

    /** Packs every bucket into fresh host segments pre-filled with garbage; checks padding zero and pieces exact. */
    static MemorySegment[] packAll(Arena arena, BucketPlan plan, MemorySegment[] sources) {
        MemorySegment[] buckets = new MemorySegment[plan.bucketCount()];
        for (int b = 0; b < buckets.length; b++) {
            buckets[b] = arena.allocate(plan.bucketByteSize(b) + 7).fill((byte) 0xA5);
            HostBucketPacker.pack(plan, b, sources, buckets[b]);
            BitSet stored = new BitSet();
            for (BucketPlan.Piece piece : plan.piecesIn(b)) {
                assertEquals(-1, MemorySegment.mismatch(sources[piece.tensor()], piece.tensorOffset(),
                        piece.tensorOffset() + piece.length(), buckets[b], piece.bucketOffset(),
                        piece.bucketOffset() + piece.length()), "piece bytes " + piece);
                stored.set((int) piece.bucketOffset(), (int) (piece.bucketOffset() + piece.length()));
            }
            for (int i = stored.nextClearBit(0); i < plan.bucketByteSize(b); i = stored.nextClearBit(i + 1)) {
                assertEquals(0, buckets[b].get(ValueLayout.JAVA_BYTE, i), "padding byte " + i + " of bucket " + b);
            }
            assertEquals((byte) 0xA5, buckets[b].get(ValueLayout.JAVA_BYTE, plan.bucketByteSize(b)), "bytes past the bucket untouched");
        }
        return buckets;
    }

    /** Scatters every bucket into fresh garbage-filled destinations and checks they equal the sources. */
    static void assertScatterRestores(Arena arena, BucketPlan plan, MemorySegment[] buckets, MemorySegment[] sources) {
        MemorySegment[] destinations = new MemorySegment[plan.tensorCount()];
        for (int t = 0; t < destinations.length; t++) {
            destinations[t] = arena.allocate(Math.max(1, plan.tensor(t).byteSize())).asSlice(0, plan.tensor(t).byteSize())
                    .fill((byte) 0x5A);
        }
        for (int b = 0; b < buckets.length; b++) {
            HostBucketPacker.scatter(plan, b, buckets[b], destinations);
        }
        for (int t = 0; t < destinations.length; t++) {
            assertEquals(-1, destinations[t].mismatch(sources[t]), "tensor " + plan.tensor(t) + " restored");
        }
    }

    static MemorySegment[] sources(Arena arena, List<TensorSpec> inventory) {
        MemorySegment[] sources = new MemorySegment[inventory.size()];
        for (int t = 0; t < sources.length; t++) {
            sources[t] = contents(arena, inventory.get(t), t);
        }
        return sources;
    }
}
