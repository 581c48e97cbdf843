package io.github.panamanccl.sync;

/**
 * How a receiver makes an update visible; the memory / safety trade-off is explicit.
 */
public enum CommitMode {
    /**
     * Nothing the application reads changes until every bucket arrived and passed validation.
     *
     * <p>Into tensors ({@code scatterInto}, {@code scatterIntoDevice}, {@code deliverTo}): buckets are received
     * into a staging area as large as the whole plan ({@code totalBucketBytes}) and applied (scattered or
     * delivered) only then. A failed transfer leaves the weights exactly as they were. Costs one full-size staging
     * copy and no transfer/apply overlap; tensor addresses never change.
     *
     * <p>Into plan-layout storage ({@code receiveInto(a, b)}, {@code allocateStorage()}): a flip between two
     * storages ({@link StagedWeights}). Each bucket lands straight in the storage nobody reads, and the commit
     * switches which one the application's leases get: readers see one version or the other, never a mix, and a
     * failed update leaves the committed version untouched. No copy at all; memory: twice the weights; the
     * tensors' addresses change at every flip.
     */
    STAGED,
    /**
     * Every bucket is applied as it arrives; a failure once bytes of the update reached the weights (a bucket whose
     * checksum fails included) leaves them {@link ReceiverState.Torn} until the next successful update.
     *
     * <p>Into tensors: buckets are received into two bucket buffers and applied while the next one arrives
     * (memory: two buckets); over the host transport a receiver that scatters into tensors reads every bucket
     * straight into them instead (memory: a small buffer for tensors under 2 KiB). Into plan-layout storage
     * ({@code receiveInto(storage)}, {@code allocateStorage()}): each bucket lands straight in the live weights: no
     * buffers, no copy.
     */
    IN_PLACE
}
