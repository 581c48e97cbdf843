package io.github.panamanccl.sync;

/**
 * How a receiver makes an update visible; the memory / safety trade-off is explicit.
 */
public enum CommitMode {
    /**
     * Buckets are received into a staging area as large as the whole plan ({@code totalBucketBytes}) and
     * applied (scattered or delivered) only after every bucket arrived and passed validation. A failed transfer
     * leaves the weights exactly as they were. Costs one full-size staging copy and no transfer/apply overlap.
     */
    STAGED,
    /**
     * Buckets are received into two bucket buffers and applied while the next one arrives (memory: two
     * buckets); over the host transport a receiver that scatters into tensors reads every bucket straight into them
     * instead (memory: a small buffer for tensors under 2 KiB). A failure once bytes of the update reached the
     * tensors (a bucket whose checksum fails included) leaves the weights {@link ReceiverState.Torn} until the next
     * successful update.
     */
    IN_PLACE
}
