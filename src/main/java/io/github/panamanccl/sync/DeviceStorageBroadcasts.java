package io.github.panamanccl.sync;

import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;

import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The data plane of plan-layout storage over a device group, on either side: every bucket's broadcast enqueued back
 * to back on the group's stream, straight from or into the storage, then one wait for all of them (no host round
 * trip between buckets, so the stream never idles waiting for the host). Progress comes after that wait, timed on
 * the device: timing events mark the stream before the first broadcast and after each, so a bucket's transfer time
 * is the device time between its marks.
 */
final class DeviceStorageBroadcasts implements AutoCloseable {
    private final BucketPlan plan;
    /** {@code marks[0]} before the first broadcast, {@code marks[k + 1]} after bucket k's. */
    private final CudaEvent[] marks;

    DeviceStorageBroadcasts(BucketPlan plan) {
        this.plan = plan;
        int n = plan.bucketCount();
        marks = new CudaEvent[n == 0 ? 0 : n + 1];
        try {
            for (int i = 0; i < marks.length; i++) {
                marks[i] = CudaEvent.create(true);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Broadcasts bucket k of {@code version} from or into {@code bucket.apply(k)}, every k, and waits for all. */
    void run(long version, Transport.DeviceGroup group, IntFunction<DeviceMemory> bucket, long startNanos,
            long deadlineNanos, Consumer<BucketProgress> progress) {
        int n = plan.bucketCount();
        if (n == 0) {
            return;
        }
        long enqueued = System.nanoTime();
        marks[0].record(group.stream());
        for (int k = 0; k < n; k++) {
            group.broadcast(bucket.apply(k), new Transport.BucketTag(version, k, n), null, marks[k + 1]);
        }
        group.await(deadlineNanos);
        double queuedAfter = Pipelines.seconds(enqueued - startNanos);
        for (int k = 0; k < n; k++) {
            double transfer = CudaEvent.elapsedMillis(marks[k], marks[k + 1]) / 1e3;
            double elapsed = queuedAfter + CudaEvent.elapsedMillis(marks[0], marks[k + 1]) / 1e3;
            progress.accept(new BucketProgress(version, group.rank(), k, n, plan.bucketByteSize(k), 0, transfer,
                    elapsed));
        }
    }

    @Override
    public void close() {
        Pipelines.closeQuietly(marks);
    }
}
