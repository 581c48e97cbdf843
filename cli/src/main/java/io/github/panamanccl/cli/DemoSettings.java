package io.github.panamanccl.cli;

import io.github.panamanccl.bucket.Inventory;

/**
 * Validated settings of one demo run.
 *
 * @param original    the inventory as named on the command line
 * @param model       the same tensors scaled to the demo's byte budget
 * @param bucketBytes bucket capacity
 * @param receivers   number of receivers
 * @param versions    weight versions to push
 * @param transport   requested transport
 * @param perTensor   also run the per-tensor comparison
 * @param progress    draw a progress bar
 */
record DemoSettings(Inventory original, Inventory model, long bucketBytes, int receivers, int versions,
                    TransportChoice transport, boolean perTensor, boolean progress) {
    static final int MAX_RECEIVERS = 64;
    static final int MAX_VERSIONS = 1000;
    static final long MIN_BUCKET_BYTES = 4096;
}
