package io.github.panamanccl.bucket;

import java.lang.foreign.MemorySegment;

/**
 * Packs tensors into a host bucket and scatters a host bucket back into tensors, with bulk
 * {@link MemorySegment#copy} only: no native call, no per-element work, no allocation beyond a slice per gap.
 */
public final class HostBucketPacker {
    private HostBucketPacker() {
    }

    /**
     * Copies the pieces of bucket {@code bucket} from the tensors into {@code bucketBytes} and zeroes the padding,
     * so the first {@code plan.bucketByteSize(bucket)} bytes are fully determined by the plan and the tensors.
     *
     * @param tensors     one segment per tensor of the plan (index = tensor index), each exactly the tensor's
     *                    bytes; entries for tensors without a piece in this bucket are not read and may be null
     * @param bucketBytes at least {@code plan.bucketByteSize(bucket)} bytes; bytes past that are not touched
     */
    public static void pack(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes) {
        checkArguments(plan, bucket, tensors, bucketBytes);
        long cursor = 0;
        for (int p = plan.firstPieceOfBucket(bucket), to = plan.firstPieceOfBucket(bucket + 1); p < to; p++) {
            long offset = plan.pieceOffset(p);
            if (offset > cursor) {
                bucketBytes.asSlice(cursor, offset - cursor).fill((byte) 0);
            }
            long length = plan.pieceLength(p);
            MemorySegment.copy(source(plan, tensors, p), plan.pieceTensorOffset(p), bucketBytes, offset, length);
            cursor = offset + length;
        }
    }

    /**
     * Copies the pieces of bucket {@code bucket} out of {@code bucketBytes} into the tensors. A split tensor is
     * complete once the buckets of all its pieces have been scattered into the same destination.
     *
     * @param bucketBytes at least {@code plan.bucketByteSize(bucket)} bytes
     * @param tensors     one destination segment per tensor (index = tensor index), each exactly the tensor's bytes;
     *                    entries for tensors without a piece in this bucket are not touched and may be null
     */
    public static void scatter(BucketPlan plan, int bucket, MemorySegment bucketBytes, MemorySegment[] tensors) {
        checkArguments(plan, bucket, tensors, bucketBytes);
        for (int p = plan.firstPieceOfBucket(bucket), to = plan.firstPieceOfBucket(bucket + 1); p < to; p++) {
            MemorySegment.copy(bucketBytes, plan.pieceOffset(p), source(plan, tensors, p), plan.pieceTensorOffset(p),
                    plan.pieceLength(p));
        }
    }

    private static void checkArguments(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes) {
        if (bucket < 0 || bucket >= plan.bucketCount()) {
            throw new IndexOutOfBoundsException("bucket " + bucket + " of " + plan.bucketCount());
        }
        if (tensors.length != plan.tensorCount()) {
            throw new IllegalArgumentException(tensors.length + " tensor segments for a plan of " + plan.tensorCount() + " tensors");
        }
        if (bucketBytes.byteSize() < plan.bucketByteSize(bucket)) {
            throw new IllegalArgumentException("bucket " + bucket + " has " + plan.bucketByteSize(bucket)
                    + " bytes, the segment only " + bucketBytes.byteSize());
        }
    }

    /** The segment of the tensor owning piece {@code p}, checked to be exactly the tensor's size. */
    private static MemorySegment source(BucketPlan plan, MemorySegment[] tensors, int p) {
        int t = plan.pieceTensor(p);
        MemorySegment segment = tensors[t];
        if (segment == null || segment.byteSize() != plan.tensor(t).byteSize()) {
            throw new IllegalArgumentException("tensor " + t + " (" + plan.tensor(t).name() + ") needs a segment of "
                    + plan.tensor(t).byteSize() + " bytes, got " + (segment == null ? "null" : segment.byteSize()));
        }
        return segment;
    }
}
