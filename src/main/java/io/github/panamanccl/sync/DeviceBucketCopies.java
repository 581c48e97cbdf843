package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.bucket.BucketPlan;

/**
 * Packs or scatters one device bucket with exactly one {@code cudaMemcpyBatchAsync} (one copy per piece).
 * Padding is not written: receivers never read it. The address arrays are reused between calls.
 */
final class DeviceBucketCopies {
    private final BucketPlan plan;
    private final long[] tensorAddresses;
    private final long[] bucketSide;
    private final long[] tensorSide;
    private final long[] sizes;

    DeviceBucketCopies(BucketPlan plan, long[] tensorAddresses) {
        this.plan = plan;
        this.tensorAddresses = tensorAddresses;
        int most = 0;
        for (int b = 0; b < plan.bucketCount(); b++) {
            most = Math.max(most, plan.piecesIn(b).size());
        }
        bucketSide = new long[most];
        tensorSide = new long[most];
        sizes = new long[most];
    }

    /** Enqueues tensors -> bucket on {@code stream}. */
    void pack(int bucket, long bucketAddress, CudaStream stream) {
        int n = fill(bucket, bucketAddress);
        Cuda.memcpyBatchAsync(bucketSide, tensorSide, sizes, n, stream);
    }

    /** Enqueues bucket -> tensors on {@code stream}. */
    void scatter(int bucket, long bucketAddress, CudaStream stream) {
        int n = fill(bucket, bucketAddress);
        Cuda.memcpyBatchAsync(tensorSide, bucketSide, sizes, n, stream);
    }

    private int fill(int bucket, long bucketAddress) {
        var pieces = plan.piecesIn(bucket);
        for (int i = 0; i < pieces.size(); i++) {
            BucketPlan.Piece p = pieces.get(i);
            bucketSide[i] = bucketAddress + p.bucketOffset();
            tensorSide[i] = tensorAddresses[p.tensor()] + p.tensorOffset();
            sizes[i] = p.length();
        }
        return pieces.size();
    }
}
