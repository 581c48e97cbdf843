package io.github.panamanccl.bucket;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.function.IntToLongFunction;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Plans for the plan-layout storage tests, and an independent check of a storage's addresses against its plan. */
final class PlanStorageFixtures {
    private PlanStorageFixtures() {
    }

    /**
     * Random tensors of every dtype (scalars, empty tensors, padding), then {@code big} (12 000 bytes) and
     * {@code tail}: with a 4 KiB cap {@code big} is split across four buckets.
     */
    static List<TensorSpec> inventory() {
        List<TensorSpec> tensors = new ArrayList<>(PlanFixtures.randomInventory(new Random(16), 40, 12));
        tensors.add(new TensorSpec("big", DType.FLOAT32, 3000));
        tensors.add(new TensorSpec("tail", DType.BFLOAT16, 3));
        return tensors;
    }

    /** {@link #inventory()} in 4 KiB buckets at 256-byte alignment: {@code big} is split. */
    static BucketPlan splitPlan() {
        BucketPlan plan = BucketPlanner.plan(inventory(), 4096, 256);
        assertTrue(plan.isSplit(plan.indexOf("big")));
        return plan;
    }

    /** {@link #inventory()} planned with {@link BucketPlanner.LargeTensors#OWN_BUCKET}: nothing split. */
    static BucketPlan unsplitPlan() {
        BucketPlan plan = BucketPlanner.plan(inventory(), 4096, 256, BucketPlanner.LargeTensors.OWN_BUCKET);
        for (int t = 0; t < plan.tensorCount(); t++) {
            assertTrue(!plan.isSplit(t), plan.tensor(t).name());
        }
        return plan;
    }

    /**
     * Checks a storage's addresses against its plan, from the plan's public accessors only: every bucket exactly its
     * size at an aligned address, buckets disjoint; every tensor with bytes at its first piece's place, every
     * piece of it (split tensors included) where the tensor's address plus the piece's tensor offset says, so the
     * tensor is one contiguous range; views typed as the plan says.
     *
     * @param bucketAddress address of bucket b
     * @param bucketBytes   size of bucket b
     * @param tensorAddress address of tensor t
     */
    static void assertLaidOutByPlan(PlanStorage<?> storage, IntToLongFunction bucketAddress, IntToLongFunction bucketBytes,
                                    IntToLongFunction tensorAddress) {
        BucketPlan plan = storage.plan();
        long alignment = plan.alignment();
        long[][] ranges = new long[plan.bucketCount()][];
        for (int b = 0; b < plan.bucketCount(); b++) {
            assertEquals(plan.bucketByteSize(b), bucketBytes.applyAsLong(b), "bytes of bucket " + b);
            long address = bucketAddress.applyAsLong(b);
            assertEquals(0, address % alignment, "bucket " + b + " at 0x" + Long.toHexString(address));
            ranges[b] = new long[] {address, address + plan.bucketByteSize(b)};
        }
        Arrays.sort(ranges, (x, y) -> Long.compare(x[0], y[0]));
        for (int i = 1; i < ranges.length; i++) {
            assertTrue(ranges[i][0] >= ranges[i - 1][1], "buckets overlap");
        }
        assertEquals(plan.tensorCount(), storage.tensors().size());
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorView view = storage.tensor(t);
            TensorSpec spec = plan.tensor(t);
            assertEquals(spec, view.spec());
            assertEquals(storage.memoryKind(), view.memoryKind());
            assertEquals(spec.byteSize(), view.byteSize());
            if (spec.byteSize() == 0) {
                continue;
            }
            long address = tensorAddress.applyAsLong(t);
            assertEquals(0, address % alignment, spec + " at 0x" + Long.toHexString(address));
            assertEquals(plan.piecesOf(t).get(0).bucketOffset(), view.offset(), "offset of " + spec + " in its bucket");
            for (BucketPlan.Piece piece : plan.piecesOf(t)) {
                assertEquals(bucketAddress.applyAsLong(piece.bucket()) + piece.bucketOffset(), address + piece.tensorOffset(),
                        spec + ": " + piece);
            }
        }
    }
}
