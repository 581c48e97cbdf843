package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DeviceBucketPacker;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Sender data path over device memory: two device bucket buffers. Bucket k+1 is packed on a copy stream while
 * bucket k is broadcast on the group's stream; {@code packed[i]} orders a broadcast after its pack, and
 * {@code sent[i]} orders the next pack into buffer i after the broadcast that read it. Each pack is one
 * {@code cudaMemcpyBatchAsync} ({@link DeviceBucketPacker}), padding zeroed in the same batch.
 */
final class DeviceSenderPipeline implements SenderPipeline<Transport.DeviceGroup> {
    private final BucketPlan plan;
    private final int device;
    private final long[] sourceAddresses;
    private final DeviceBucketPacker packer;
    private final DeviceBuffer[] buffers;
    private final CudaEvent[] packed;
    private final CudaEvent[] sent;
    private final CudaStream copyStream;
    private final AtomicBoolean closed = new AtomicBoolean();

    DeviceSenderPipeline(BucketPlan plan, int device, long[] sourceAddresses) {
        this.plan = plan;
        this.device = device;
        Cuda.setDevice(device);
        this.sourceAddresses = sourceAddresses;
        this.packer = DeviceBucketPacker.create(plan);
        int count = Math.min(2, plan.bucketCount());
        buffers = new DeviceBuffer[count];
        packed = new CudaEvent[count];
        sent = new CudaEvent[count];
        CudaStream stream = null;
        try {
            for (int i = 0; i < count; i++) {
                buffers[i] = DeviceBuffer.allocate(plan.maxBucketByteSize());
                packed[i] = CudaEvent.create(false);
                sent[i] = CudaEvent.create(false);
            }
            stream = CudaStream.create();
        } catch (RuntimeException e) {
            closeAll();
            throw e;
        }
        copyStream = stream;
    }

    @Override
    public void run(long version, Transport.DeviceGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) {
        Cuda.setDevice(device); // the current device is per thread
        int n = plan.bucketCount();
        if (n > 0) {
            pack(0);
        }
        for (int k = 0; k < n; k++) {
            long transferStart = System.nanoTime();
            if (k + 1 < n) {
                pack(k + 1); // runs on the copy stream while bucket k is broadcast
            }
            DeviceMemory bucket = buffers[k % 2].slice(0, plan.bucketByteSize(k));
            group.broadcast(bucket, new Transport.BucketTag(version, k, n), packed[k % 2], sent[k % 2]);
            group.await(deadlineNanos);
            long end = System.nanoTime();
            progress.accept(new BucketProgress(version, 0, k, n, bucket.byteSize(), 0,
                    Pipelines.seconds(end - transferStart), Pipelines.seconds(end - startNanos)));
        }
    }

    private void pack(int bucket) {
        int slot = bucket % 2;
        copyStream.waitEvent(sent[slot]);
        packer.pack(bucket, sourceAddresses, buffers[slot], copyStream);
        packed[slot].record(copyStream);
    }

    /** Waits for queued copies, then frees everything even when that wait fails; idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            copyStream.synchronize(); // a pack may still read the packer's zero buffer and write a bucket buffer
        } finally {
            closeAll();
        }
    }

    private void closeAll() {
        Pipelines.closeQuietly(copyStream);
        for (int i = 0; i < buffers.length; i++) {
            Pipelines.closeQuietly(packed[i], sent[i], buffers[i]);
        }
        Pipelines.closeQuietly(packer);
    }
}
