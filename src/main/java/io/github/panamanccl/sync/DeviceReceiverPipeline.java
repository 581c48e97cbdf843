package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DeviceBucketPacker;
import io.github.panamanccl.sync.TransportException.Kind;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * Receiver data path over device memory, scatter mode: one batched copy per bucket into the registered device
 * destinations. In place: two device buffers; bucket k is scattered on a copy stream while k+1 arrives, and a
 * buffer receives again only after the scatter that read it ({@code scattered[i]}). Staged: one device staging
 * area of the plan's total size; scatters are enqueued only after every bucket arrived.
 */
final class DeviceReceiverPipeline implements ReceiverPipeline {
    private final BucketPlan plan;
    private final int device;
    private final CommitMode mode;
    private final long[] destinationAddresses;
    private final DeviceBucketPacker packer;
    private final DeviceBuffer[] buffers;
    private final DeviceMemory[] slots;
    private final CudaEvent[] received;
    private final CudaEvent[] scattered;
    private final CudaStream copyStream;
    private final AtomicBoolean closed = new AtomicBoolean();
    private boolean touched;
    /** Scatters were enqueued on the copy stream since it was last seen idle. */
    private boolean copiesQueued;

    DeviceReceiverPipeline(BucketPlan plan, int device, CommitMode mode, long[] destinationAddresses) {
        this.plan = plan;
        this.device = device;
        Cuda.setDevice(device);
        this.mode = mode;
        this.destinationAddresses = destinationAddresses;
        this.packer = DeviceBucketPacker.create(plan);
        int n = plan.bucketCount();
        boolean staged = mode == CommitMode.STAGED;
        int slotCount = staged ? n : Math.min(2, n);
        buffers = new DeviceBuffer[staged ? Math.min(1, n) : slotCount];
        slots = new DeviceMemory[slotCount];
        received = new CudaEvent[Math.min(2, n)];
        scattered = new CudaEvent[Math.min(2, n)];
        CudaStream stream = null;
        try {
            if (staged && n > 0) {
                buffers[0] = DeviceBuffer.allocate(plan.totalBucketBytes());
                long offset = 0;
                for (int k = 0; k < n; k++) {
                    slots[k] = buffers[0].slice(offset, plan.bucketByteSize(k));
                    offset += plan.bucketByteSize(k);
                }
            } else {
                for (int i = 0; i < slotCount; i++) {
                    buffers[i] = DeviceBuffer.allocate(plan.maxBucketByteSize());
                    slots[i] = buffers[i];
                }
            }
            for (int i = 0; i < received.length; i++) {
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

    @Override
    public void receive(long version, Transport.Group anyGroup, int rank, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) {
        Transport.DeviceGroup group = (Transport.DeviceGroup) anyGroup;
        Cuda.setDevice(device); // the current device is per thread
        touched = false;
        awaitCopies(deadlineNanos); // a failed update may have left scatters queued on our buffers
        int n = plan.bucketCount();
        for (int k = 0; k < n; k++) {
            long transferStart = System.nanoTime();
            int event = k % 2;
            DeviceMemory slot = slot(k);
            group.broadcast(slot, new Transport.BucketTag(version, k, n),
                    mode == CommitMode.IN_PLACE ? scattered[event] : null, received[event]);
            group.await(deadlineNanos);
            long end = System.nanoTime();
            if (mode == CommitMode.IN_PLACE) {
                touched = true;
                copyStream.waitEvent(received[event]);
                packer.scatter(k, slot, destinationAddresses, copyStream);
                copiesQueued = true;
                scattered[event].record(copyStream);
            }
            progress.accept(new BucketProgress(version, rank, k, n, slot.byteSize(), 0,
                    Pipelines.seconds(end - transferStart), Pipelines.seconds(end - startNanos)));
        }
        if (mode == CommitMode.IN_PLACE) {
            awaitCopies(deadlineNanos);
        }
    }

    @Override
    public void applyStaged(long version, long deadlineNanos, Runnable throwIfFailed) {
        if (mode != CommitMode.STAGED) {
            return;
        }
        Cuda.setDevice(device);
        for (int k = 0; k < plan.bucketCount(); k++) {
            Pipelines.checkApplyStaged(k, plan.bucketCount(), deadlineNanos, throwIfFailed);
            touched = true;
            packer.scatter(k, slots[k], destinationAddresses, copyStream);
            copiesQueued = true;
        }
        awaitCopies(deadlineNanos);
    }

    /** Polls the copy stream until idle, by the deadline (a local copy; no peer can stall it). */
    private void awaitCopies(long deadlineNanos) {
        if (!copiesQueued) {
            return;
        }
        while (!copyStream.isComplete()) {
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw new TransportException(Kind.DEADLINE, UpdateFailedException.UNKNOWN_RANK,
                        "device scatter did not finish before the deadline", null);
            }
            LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(50));
        }
        copiesQueued = false;
    }

    private DeviceMemory slot(int bucket) {
        return mode == CommitMode.STAGED ? slots[bucket] : slots[bucket % 2].slice(0, plan.bucketByteSize(bucket));
    }

    @Override
    public boolean touched() {
        return touched;
    }

    @Override
    public long bufferBytes() {
        long bytes = 0;
        for (DeviceBuffer b : buffers) {
            bytes += b == null ? 0 : b.byteSize();
        }
        return bytes;
    }

    /** Waits for queued copies, then frees everything even when that wait fails; idempotent. */
    @Override
    public void close() {
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
}
