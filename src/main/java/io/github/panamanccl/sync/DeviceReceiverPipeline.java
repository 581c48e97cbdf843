package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DeviceBucketPacker;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * Receiver data path over device memory, scatter mode: one batched copy per bucket into the registered device
 * destinations, on a copy stream. The receive loop is shared; the subclass is the commit mode: {@link DeviceStaged}
 * (one device staging area of the plan's total size; scatters are enqueued only after every bucket arrived) or
 * {@link DeviceInPlace} (two device buffers; bucket k is scattered while k+1 arrives, and a buffer receives again
 * only after the scatter that read it, {@code scattered[i]}).
 */
abstract sealed class DeviceReceiverPipeline implements ReceiverPipeline<Transport.DeviceGroup>
        permits DeviceReceiverPipeline.DeviceStaged, DeviceReceiverPipeline.DeviceInPlace {
    final BucketPlan plan;
    final int device;
    final long[] destinationAddresses;
    final DeviceBucketPacker packer;
    final DeviceBuffer[] buffers;
    final CudaEvent[] received;
    final CudaEvent[] scattered;
    final CudaStream copyStream;
    private final AtomicBoolean closed = new AtomicBoolean();
    boolean touched;
    /** Scatters were enqueued on the copy stream since it was last seen idle. */
    private boolean copiesQueued;

    private DeviceReceiverPipeline(BucketPlan plan, int device, long[] destinationAddresses, long[] bufferBytes) {
        this.plan = plan;
        this.device = device;
        Cuda.setDevice(device);
        this.destinationAddresses = destinationAddresses;
        this.packer = DeviceBucketPacker.create(plan);
        int events = Math.min(2, plan.bucketCount());
        buffers = new DeviceBuffer[bufferBytes.length];
        received = new CudaEvent[events];
        scattered = new CudaEvent[events];
        CudaStream stream = null;
        try {
            for (int i = 0; i < buffers.length; i++) {
                buffers[i] = DeviceBuffer.allocate(bufferBytes[i]);
            }
            for (int i = 0; i < events; i++) {
                received[i] = CudaEvent.create(false);
                scattered[i] = CudaEvent.create(false);
            }
            stream = CudaStream.create();
        } catch (RuntimeException e) {
            closeAll();
            throw e;
        }
        copyStream = stream;
    }

    /** The pipeline of {@code mode}. */
    static DeviceReceiverPipeline create(BucketPlan plan, int device, CommitMode mode, long[] destinationAddresses) {
        return switch (mode) {
            case STAGED -> new DeviceStaged(plan, device, destinationAddresses);
            case IN_PLACE -> new DeviceInPlace(plan, device, destinationAddresses);
        };
    }

    @Override
    public final void receive(long version, Transport.DeviceGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) {
        Cuda.setDevice(device); // the current device is per thread
        touched = false;
        awaitCopies(deadlineNanos); // a failed update may have left scatters queued on our buffers
        int n = plan.bucketCount();
        for (int k = 0; k < n; k++) {
            long transferStart = System.nanoTime();
            DeviceMemory slot = slot(k);
            group.broadcast(slot, new Transport.BucketTag(version, k, n), bufferFree(k), received[k % 2]);
            group.await(deadlineNanos);
            long end = System.nanoTime();
            arrived(k, slot);
            progress.accept(new BucketProgress(version, group.rank(), k, n, slot.byteSize(), 0,
                    Pipelines.seconds(end - transferStart), Pipelines.seconds(end - startNanos)));
        }
        awaitCopies(deadlineNanos);
    }

    /** Where bucket {@code k} lands. */
    abstract DeviceMemory slot(int k);

    /** The event the broadcast of bucket {@code k} must wait for, or null. */
    abstract CudaEvent bufferFree(int k);

    /** Bucket {@code k} arrived in {@code slot} (its {@code received} event is recorded). */
    abstract void arrived(int k, DeviceMemory slot);

    /** Device scatters fail only with unchecked CUDA errors. */
    @Override
    public abstract void commit(long version, long deadlineNanos, Runnable throwIfFailed);

    /** Enqueues the scatter of bucket {@code k} from {@code slot} on the copy stream. */
    final void scatter(int k, DeviceMemory slot) {
        touched = true;
        packer.scatter(k, slot, destinationAddresses, copyStream);
        copiesQueued = true;
    }

    /** Polls the copy stream until idle, by the deadline (a local copy; no peer can stall it). */
    final void awaitCopies(long deadlineNanos) {
        if (!copiesQueued) {
            return;
        }
        while (!copyStream.isComplete()) {
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw new TransportException(FailureReason.DEADLINE, UpdateFailedException.UNKNOWN_RANK,
                        "device scatter did not finish before the deadline", null);
            }
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(50));
        }
        copiesQueued = false;
    }

    @Override
    public final boolean touched() {
        return touched;
    }

    @Override
    public final long bufferBytes() {
        long bytes = 0;
        for (DeviceBuffer b : buffers) {
            bytes += b == null ? 0 : b.byteSize();
        }
        return bytes;
    }

    /** Waits for queued copies, then frees everything even when that wait fails; idempotent. */
    @Override
    public final void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            copyStream.synchronize(); // a scatter may still read a bucket buffer
        } finally {
            closeAll();
        }
    }

    private void closeAll() {
        Pipelines.closeQuietly(copyStream);
        for (int i = 0; i < received.length; i++) {
            Pipelines.closeQuietly(received[i], scattered[i]);
        }
        Pipelines.closeQuietly(buffers);
        Pipelines.closeQuietly(packer);
    }

    /** Staged: one staging area, each bucket at its own offset, all scattered in {@link #commit}. */
    static final class DeviceStaged extends DeviceReceiverPipeline {
        private final DeviceMemory[] slots;

        DeviceStaged(BucketPlan plan, int device, long[] destinationAddresses) {
            super(plan, device, destinationAddresses, plan.bucketCount() > 0 ? new long[] {plan.totalBucketBytes()}
                    : new long[0]);
            slots = new DeviceMemory[plan.bucketCount()];
            long offset = 0;
            for (int k = 0; k < slots.length; k++) {
                slots[k] = buffers[0].slice(offset, plan.bucketByteSize(k));
                offset += plan.bucketByteSize(k);
            }
        }

        @Override
        DeviceMemory slot(int k) {
            return slots[k];
        }

        @Override
        CudaEvent bufferFree(int k) {
            return null; // every bucket has memory of its own
        }

        @Override
        void arrived(int k, DeviceMemory slot) {
            // scattered in commit, once every bucket is here
        }

        @Override
        public void commit(long version, long deadlineNanos, Runnable throwIfFailed) {
            Cuda.setDevice(device);
            for (int k = 0; k < slots.length; k++) {
                Pipelines.checkApplyStaged(k, slots.length, deadlineNanos, throwIfFailed);
                scatter(k, slots[k]);
            }
            awaitCopies(deadlineNanos);
        }
    }

    /** In place: two bucket buffers; each bucket is scattered while the next one arrives. */
    static final class DeviceInPlace extends DeviceReceiverPipeline {
        DeviceInPlace(BucketPlan plan, int device, long[] destinationAddresses) {
            super(plan, device, destinationAddresses, twoBuckets(plan));
        }

        private static long[] twoBuckets(BucketPlan plan) {
            long[] sizes = new long[Math.min(2, plan.bucketCount())];
            java.util.Arrays.fill(sizes, plan.maxBucketByteSize());
            return sizes;
        }

        @Override
        DeviceMemory slot(int k) {
            return buffers[k % 2].slice(0, plan.bucketByteSize(k));
        }

        @Override
        CudaEvent bufferFree(int k) {
            return scattered[k % 2];
        }

        @Override
        void arrived(int k, DeviceMemory slot) {
            copyStream.waitEvent(received[k % 2]);
            scatter(k, slot);
            scattered[k % 2].record(copyStream);
        }

        @Override
        public void commit(long version, long deadlineNanos, Runnable throwIfFailed) {
            // every bucket was scattered as it arrived, and receive waited for the scatters
        }
    }
}
