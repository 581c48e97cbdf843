package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.bucket.DevicePlanStorage;

import java.util.function.Consumer;

/**
 * Sender data path from device plan-layout storage: each bucket is broadcast straight from the application's
 * weights ({@link DevicePlanStorage#bucket}): no pack, no copy stream, no bucket buffers. The broadcasts read the
 * live weights, so the application finishes writing them before {@code publish} and writes again only after it
 * returned.
 */
final class DeviceStorageSenderPipeline implements SenderPipeline<Transport.DeviceGroup> {
    private final DevicePlanStorage storage;
    private final DeviceStorageBroadcasts broadcasts;

    DeviceStorageSenderPipeline(DevicePlanStorage storage) {
        this.storage = storage;
        Cuda.setDevice(storage.device());
        this.broadcasts = new DeviceStorageBroadcasts(storage.plan());
    }

    @Override
    public void run(long version, Transport.DeviceGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) {
        Cuda.setDevice(storage.device()); // the current device is per thread
        broadcasts.run(version, group, storage::bucket, startNanos, deadlineNanos, progress);
    }

    /** Frees the timing events; the storage stays the application's. */
    @Override
    public void close() {
        broadcasts.close();
    }
}
