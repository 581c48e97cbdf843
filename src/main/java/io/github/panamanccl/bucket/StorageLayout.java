package io.github.panamanccl.bucket;

import java.util.List;
import java.util.Objects;

/**
 * Where plan-layout storage puts a plan's buckets: the segments to allocate and, for each bucket, its segment and its
 * offset from the segment's base. Bucket offsets are multiples of the plan's alignment and the storage aligns each
 * base to it, so every tensor starts at an address as aligned as the plan says.
 */
final class StorageLayout {
    private final BucketPlan plan;
    private final long[] segmentBytes;
    private final int[] bucketSegment;
    private final long[] bucketOffset;

    private StorageLayout(BucketPlan plan, long[] segmentBytes, int[] bucketSegment, long[] bucketOffset) {
        this.plan = plan;
        this.segmentBytes = segmentBytes;
        this.bucketSegment = bucketSegment;
        this.bucketOffset = bucketOffset;
    }

    /**
     * Lays the plan out; allocates nothing.
     *
     * @throws IllegalArgumentException naming the first split tensor whose pieces would not be adjacent in one segment
     */
    static StorageLayout of(BucketPlan plan, StorageSegments segments) {
        Objects.requireNonNull(plan, "plan");
        Objects.requireNonNull(segments, "segments");
        int buckets = plan.bucketCount();
        int[] bucketSegment = new int[buckets];
        long[] bucketOffset = new long[buckets];
        long[] segmentBytes = switch (segments) {
            case ONE_FOR_ALL_BUCKETS -> {
                long end = 0;
                for (int b = 0; b < buckets; b++) {
                    bucketOffset[b] = alignUp(end, plan.alignment());
                    end = Math.addExact(bucketOffset[b], plan.bucketByteSize(b));
                }
                yield buckets == 0 ? new long[0] : new long[] {end};
            }
            case ONE_PER_BUCKET -> {
                long[] sizes = new long[buckets];
                for (int b = 0; b < buckets; b++) {
                    bucketSegment[b] = b;
                    sizes[b] = plan.bucketByteSize(b);
                }
                yield sizes;
            }
        };
        StorageLayout layout = new StorageLayout(plan, segmentBytes, bucketSegment, bucketOffset);
        layout.requireSplitTensorsInOnePiece(segments);
        return layout;
    }

    private static long alignUp(long value, long alignment) {
        return Math.addExact(value, alignment - 1) & -alignment;
    }

    private void requireSplitTensorsInOnePiece(StorageSegments segments) {
        for (int t = 0; t < plan.tensorCount(); t++) {
            int last = plan.firstPieceOfTensor(t + 1) - 1;
            for (int p = plan.firstPieceOfTensor(t); p < last; p++) {
                int bucket = plan.pieceBucket(p);
                if (bucketSegment[bucket] != bucketSegment[bucket + 1]) {
                    throw splitRefused(t, segments + " storage keeps each bucket in its own allocation: use "
                            + StorageSegments.ONE_FOR_ALL_BUCKETS);
                }
                long end = bucketOffset[bucket] + plan.pieceOffset(p) + plan.pieceLength(p);
                long next = bucketOffset[bucket + 1] + plan.pieceOffset(p + 1);
                if (end != next) {
                    throw splitRefused(t, "its pieces are not adjacent in one segment: the piece in bucket " + bucket
                            + " ends at byte " + end + ", the next starts at byte " + next + " (buckets start at multiples"
                            + " of the alignment " + plan.alignment() + "): plan with a cap that is a multiple of the alignment");
                }
            }
        }
    }

    private IllegalArgumentException splitRefused(int tensor, String reason) {
        List<BucketPlan.Piece> pieces = plan.piecesOf(tensor);
        return new IllegalArgumentException("tensor " + plan.tensor(tensor).name() + " is split across buckets "
                + pieces.get(0).bucket() + " to " + pieces.get(pieces.size() - 1).bucket() + ", and " + reason
                + ", or plan with BucketPlanner.LargeTensors.OWN_BUCKET, which never splits a tensor");
    }

    int segmentCount() {
        return segmentBytes.length;
    }

    /** Bytes the buckets of segment {@code segment} span from its aligned base. */
    long segmentBytes(int segment) {
        return segmentBytes[segment];
    }

    int bucketSegment(int bucket) {
        return bucketSegment[bucket];
    }

    /** Where bucket {@code bucket} starts, from its segment's aligned base. */
    long bucketOffset(int bucket) {
        return bucketOffset[bucket];
    }

    /** The segment of a tensor with bytes (that of its first piece). */
    int tensorSegment(int tensor) {
        return bucketSegment[plan.pieceBucket(plan.firstPieceOfTensor(tensor))];
    }

    /** Where a tensor with bytes starts, from its segment's aligned base. */
    long tensorOffset(int tensor) {
        int piece = plan.firstPieceOfTensor(tensor);
        return bucketOffset[plan.pieceBucket(piece)] + plan.pieceOffset(piece);
    }

    /** Where a tensor with bytes starts in its first bucket (what its view reports as {@link TensorView#offset()}). */
    long tensorOffsetInBucket(int tensor) {
        return plan.pieceOffset(plan.firstPieceOfTensor(tensor));
    }

    /**
     * Extra bytes to allocate per segment so that a base aligned to the plan's alignment fits, from an allocator whose
     * addresses are multiples of {@code guaranteedAlignment} (a power of two).
     */
    long slack(long guaranteedAlignment) {
        return Math.max(0, plan.alignment() - guaranteedAlignment);
    }

    /**
     * Bytes from an allocation at {@code address} to its first address aligned to the plan's alignment.
     *
     * @throws IllegalStateException when that is more than the {@code slack} allocated (the allocator broke its
     *                               alignment guarantee)
     */
    long basePadding(long address, long slack) {
        long padding = -address & (plan.alignment() - 1);
        if (padding > slack) {
            throw new IllegalStateException("allocation at 0x" + Long.toHexString(address) + " is " + padding
                    + " bytes short of the plan's alignment " + plan.alignment() + ", more than the " + slack
                    + " spare bytes allocated for it");
        }
        return padding;
    }
}
