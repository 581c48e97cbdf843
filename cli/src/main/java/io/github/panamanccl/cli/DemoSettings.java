package io.github.panamanccl.cli;

import java.util.OptionalLong;

import io.github.panamanccl.bucket.Inventory;

/**
 * Validated settings of one demo run.
 *
 * @param original    the inventory as named on the command line
 * @param model       the same tensors scaled to the demo's byte budget
 * @param bucketBytes bucket capacity asked for; empty: the transport's default
 * @param receivers   number of receivers
 * @param versions    weight versions to push
 * @param transport   requested transport
 * @param perTensor   also run the per-tensor comparison
 * @param progress    draw a progress bar
 */
record DemoSettings(Inventory original, Inventory model, OptionalLong bucketBytes, int receivers, int versions,
                    TransportChoice transport, boolean perTensor, boolean progress) {
    static final int MAX_RECEIVERS = 64;
    static final int MAX_VERSIONS = 1000;
    static final long MIN_BUCKET_BYTES = 4096;
    /**
     * The bucket size on the host transport unless one is given: 4 MiB, among the fastest in every measurement
     * (HostBucketSizeBenchmark: 256 MiB of Qwen3-30B-A3B's 18 867 tensors to one receiver over loopback). With the
     * zero-copy data path (bench/results/2026-12-02-host-compare-after*.json) 4 MiB ran at 2.80 / 1.33 / 1.13 GB/s
     * in the three runs, 8 MiB at 2.87 / 1.34 / 0.80, 64 MiB at 2.41 / 1.55 / 1.22, 1 MiB at 2.34 / 1.17 / 0.80;
     * before it (2026-11-28) 1 and 4 MiB were the fastest. 4 MiB rather than 1 MiB keeps the bucket count of a real
     * model down.
     */
    static final long HOST_BUCKET_BYTES = 4L << 20;
    /**
     * The bucket size over NCCL unless one is given: 256 MiB, not measured yet (no GPU run has been made). Large
     * enough that a bucket's fixed cost (one batched copy and one ncclBroadcast launch, tens of microseconds) stays
     * near 1 % at NVLink bandwidth, small enough that the bucket buffers fit next to a rank's model.
     */
    static final long NCCL_BUCKET_BYTES = 256L << 20;

    /** The bucket size to plan with on the chosen transport. */
    long bucketBytesFor(boolean nccl) {
        return bucketBytes.orElse(nccl ? NCCL_BUCKET_BYTES : HOST_BUCKET_BYTES);
    }
}
