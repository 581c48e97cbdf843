package io.github.panamanccl.sync;

/**
 * Delivered mode: the application applies each received bucket itself. Called once per bucket, in bucket
 * order, on the receiver's apply thread (in-place mode) or on the thread in {@link WeightReceiver#awaitUpdate}
 * (staged mode). The bucket's memory is reused once the call returns.
 */
@FunctionalInterface
public interface BucketConsumer {
    /** Any exception fails the update on this receiver (and leaves it torn if a bucket had been applied). */
    void accept(ReceivedBucket bucket) throws Exception;
}
