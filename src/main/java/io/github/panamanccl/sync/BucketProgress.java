package io.github.panamanccl.sync;

/**
 * One bucket of an update has gone through this rank's data plane.
 *
 * @param version         the update's version
 * @param rank            this rank (0 = sender)
 * @param bucket          bucket index
 * @param bucketCount     buckets in the update
 * @param bytes           bytes of the bucket (padding included)
 * @param waitSeconds     time spent waiting before the transfer (packing on the sender, a free buffer on a
 *                        receiver)
 * @param transferSeconds time of the broadcast call on this rank
 * @param elapsedSeconds  time since the update began, at the end of this bucket's transfer
 */
public record BucketProgress(long version, int rank, int bucket, int bucketCount, long bytes, double waitSeconds,
        double transferSeconds, double elapsedSeconds) {
}
