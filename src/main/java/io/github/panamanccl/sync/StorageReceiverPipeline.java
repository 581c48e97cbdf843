package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.bucket.PlanStorage;

import java.util.function.Consumer;

/**
 * Receiver data path into plan-layout storage: each broadcast lands in the bucket of the storage its
 * {@link StorageTarget} names (the live weights in place, or the inactive storage of a flip): no bucket buffers,
 * no scatter, nothing left to apply at commit. Before READY, {@code prepare} picks that storage once nothing reads
 * it. The subclass is the memory: {@link Device} (every broadcast enqueued on the group's stream, which first waits
 * for the events the storage's last readers closed their leases with) or {@link Host} (each bucket received and
 * validated in place; reader events are waited for on the host).
 *
 * @param <G> the group type
 * @param <S> the storage type
 */
abstract sealed class StorageReceiverPipeline<G extends Transport.Group, S extends PlanStorage<?>>
        implements ReceiverPipeline<G> permits StorageReceiverPipeline.Device, StorageReceiverPipeline.Host {
    final BucketPlan plan;
    private final StorageTarget<S> target;
    /** The storage the prepared update writes; null between updates. */
    private S writing;
    private boolean touched;

    private StorageReceiverPipeline(BucketPlan plan, StorageTarget<S> target) {
        this.plan = plan;
        this.target = target;
    }

    /** Picks the storage this update writes, once nothing reads it; reader events go to {@code afterReads}. */
    final void pickStorage(long readersDeadlineNanos, int rank, Consumer<CudaEvent> afterReads,
            Runnable throwIfFailed) {
        touched = false;
        writing = null;
        writing = target.beginUpdate(readersDeadlineNanos, rank, afterReads, throwIfFailed);
    }

    /** The prepared storage; from now on a live write counts as touching the weights. */
    final S begin() {
        S storage = writing;
        writing = null;
        if (storage == null) {
            throw new IllegalStateException("receive before prepare");
        }
        touched = target.writesLiveWeights();
        return storage;
    }

    /** Nothing to apply: the buckets landed where they belong. */
    @Override
    public final void commit(long version, long deadlineNanos, Runnable throwIfFailed) {
        throwIfFailed.run();
    }

    @Override
    public final void committed(long version) {
        target.committed(version);
    }

    @Override
    public final boolean touched() {
        return touched;
    }

    @Override
    public final long bufferBytes() {
        return target.stagingBytes();
    }

    @Override
    public void close() {
        target.close();
    }

    /** Into device storage on {@code device}: broadcasts enqueued back to back, one wait. */
    static final class Device extends StorageReceiverPipeline<Transport.DeviceGroup, DevicePlanStorage> {
        private final int device;
        private final DeviceStorageBroadcasts broadcasts;

        Device(BucketPlan plan, int device, StorageTarget<DevicePlanStorage> target) {
            super(plan, target);
            this.device = device;
            Cuda.setDevice(device);
            this.broadcasts = new DeviceStorageBroadcasts(plan);
        }

        /** The group's stream waits for the events the storage's last readers closed their leases with. */
        @Override
        public void prepare(Transport.DeviceGroup group, long readersDeadlineNanos, Runnable throwIfFailed) {
            Cuda.setDevice(device); // the current device is per thread
            pickStorage(readersDeadlineNanos, group.rank(), group.stream()::waitEvent, throwIfFailed);
        }

        @Override
        public void receive(long version, Transport.DeviceGroup group, long startNanos, long deadlineNanos,
                Consumer<BucketProgress> progress) {
            Cuda.setDevice(device);
            DevicePlanStorage storage = begin();
            broadcasts.run(version, group, storage::bucket, startNanos, deadlineNanos, progress);
        }

        @Override
        public void close() {
            try {
                broadcasts.close();
            } finally {
                super.close();
            }
        }
    }

    /** Into host storage: each bucket received and validated in place, in order. */
    static final class Host extends StorageReceiverPipeline<HostSpanGroup, HostPlanStorage> {
        Host(BucketPlan plan, StorageTarget<HostPlanStorage> target) {
            super(plan, target);
        }

        /** The host waits for the events the storage's last GPU readers closed their leases with. */
        @Override
        public void prepare(HostSpanGroup group, long readersDeadlineNanos, Runnable throwIfFailed) {
            pickStorage(readersDeadlineNanos, group.rank(), CudaEvent::synchronize, throwIfFailed);
        }

        @Override
        public void receive(long version, HostSpanGroup group, long startNanos, long deadlineNanos,
                Consumer<BucketProgress> progress) {
            HostStorageBroadcasts.run(plan, version, group, begin()::bucket, startNanos, deadlineNanos, progress);
        }
    }
}
