package io.github.panamanccl.cli;

import java.util.Optional;

import io.github.panamanccl.bucket.BucketPlan;

/**
 * A sender and receivers in this process, each rank with its own copy of every tensor, that sync the model
 * bucketed (WeightSender / WeightReceiver) or per tensor (the same transport, one broadcast per tensor) and
 * verify the receivers against the sender's checksums. Public for the benchmarks in bench/.
 */
public interface DemoCluster extends AutoCloseable {
    /** Receives every sender-side progress step: bytes done so far of the sync's total. */
    @FunctionalInterface
    interface Progress {
        void update(long doneBytes, long totalBytes);

        Progress NONE = (done, total) -> { };
    }

    /**
     * One timed sync of the whole model.
     *
     * @param bytes           bytes moved to each receiver (bucket padding included when bucketed)
     * @param collectiveCalls broadcast calls (one per bucket, or one per tensor)
     * @param seconds         from the start of the sync until every receiver had the whole model
     */
    record SyncResult(long version, long bytes, int buckets, long collectiveCalls, double seconds) {
    }

    /** Receivers whose every tensor matched the sender's checksum, and the first mismatch found, if any. */
    record Verification(int receiversVerified, int receivers, Optional<String> firstMismatch) {
        public boolean complete() {
            return receiversVerified == receivers;
        }
    }

    BucketPlan plan();

    /** Writes the contents of {@code version} into the sender's tensors and returns their CRC32C checksums. */
    int[] fillSender(long version);

    /** Publishes {@code version} (greater than the last one published) bucketed; returns when every receiver committed. */
    SyncResult syncBucketed(long version, Progress progress);

    /**
     * Sends every tensor with its own broadcast over the same transport (no plan, no packing), tagged
     * {@code version}; returns when every receiver has the last tensor.
     */
    SyncResult syncPerTensor(long version, Progress progress);

    /** Compares every receiver's tensors with the sender's checksums. */
    Verification verify(int[] expectedChecksums);

    @Override
    void close();
}
