package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostTensorView;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * One received, validated bucket handed to a {@link BucketConsumer}. Its memory is the receiver's bucket buffer
 * (read-only here) and is reused once the consumer returns: copy out what must outlive the call.
 */
public final class ReceivedBucket {
    private final BucketPlan plan;
    private final long version;
    private final int index;
    private final MemorySegment bytes;

    ReceivedBucket(BucketPlan plan, long version, int index, MemorySegment bytes) {
        this.plan = plan;
        this.version = version;
        this.index = index;
        this.bytes = bytes.asReadOnly();
    }

    /** The version being applied. */
    public long version() {
        return version;
    }

    /** Bucket index in the plan. */
    public int index() {
        return index;
    }

    /** Buckets in the plan. */
    public int bucketCount() {
        return plan.bucketCount();
    }

    /** The plan the bucket belongs to. */
    public BucketPlan plan() {
        return plan;
    }

    /** The bucket's bytes (exactly {@code plan().bucketByteSize(index())}), read-only. */
    public MemorySegment bytes() {
        return bytes;
    }

    /** The tensor byte ranges stored in this bucket, by offset; split tensors appear as partial pieces. */
    public List<BucketPlan.Piece> pieces() {
        return plan.piecesIn(index);
    }

    /** A typed view of an unsplit tensor stored in this bucket (see {@link BucketPlan#hostView}). */
    public HostTensorView view(int tensor) {
        return plan.hostView(tensor, bytes);
    }
}
