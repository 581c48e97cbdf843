package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.HostPlanStorage;

import java.util.function.Consumer;

/**
 * Sender data path from host plan-layout storage: each bucket is broadcast straight from the application's weights
 * ({@link HostPlanStorage#bucket}): no packer thread, no bucket buffers. The broadcasts read the live weights, so
 * the application does not write them while {@code publish} runs.
 */
final class HostStorageSenderPipeline implements SenderPipeline<HostSpanGroup> {
    private final HostPlanStorage storage;

    HostStorageSenderPipeline(HostPlanStorage storage) {
        this.storage = storage;
    }

    @Override
    public void run(long version, HostSpanGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) {
        HostStorageBroadcasts.run(storage.plan(), version, group, storage::bucket, startNanos, deadlineNanos,
                progress);
    }

    /** Nothing of its own: the storage stays the application's. */
    @Override
    public void close() {
    }
}
