package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.bucket.PlanStorage;

import java.net.InetAddress;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The zero-copy modes' wiring: plan-layout storage checked against the transport and the plan, and the sender or
 * receiver data plane built over it.
 */
final class StorageSync {
    private StorageSync() {
    }

    /**
     * The sender's data plane from {@code storage}: one broadcast per bucket straight from it.
     *
     * @throws IllegalStateException    the storage is not the transport's memory
     * @throws IllegalArgumentException the storage is closed, or on another device than the transport's
     */
    static Publisher<?> publisher(PlanStorage<?> storage, Transport transport, InetAddress bindAddress, int worldSize) {
        requireUsable(storage, transport, "sources(PlanStorage)");
        return switch (transport) {
            case NcclTransport nccl -> new Publisher<>(nccl,
                    new DeviceStorageSenderPipeline((DevicePlanStorage) storage), bindAddress, worldSize);
            case HostTcpTransport host -> new Publisher<>(host,
                    new HostStorageSenderPipeline((HostPlanStorage) storage), bindAddress, worldSize);
        };
    }

    /**
     * Before joining: {@code supplied} (empty: the receiver allocates) fits {@code mode} and {@code transport}.
     *
     * @throws IllegalStateException    the number of storages does not fit the mode, or their memory the transport
     * @throws IllegalArgumentException a storage is closed, given twice, or on another device than the transport's
     */
    static void checkReceiverStorage(List<PlanStorage<?>> supplied, CommitMode mode, Transport transport) {
        if (!supplied.isEmpty()) {
            int wanted = mode == CommitMode.IN_PLACE ? 1 : 2;
            if (supplied.size() != wanted) {
                throw new IllegalStateException(mode == CommitMode.IN_PLACE
                        ? "IN_PLACE receives into one storage, the live weights; two storages are for STAGED, "
                                + "which flips between them"
                        : "STAGED flips between two storages: receiveInto(first, second); one storage is received "
                                + "into IN_PLACE (commitMode(CommitMode.IN_PLACE)), or use allocateStorage()");
            }
            Set<PlanStorage<?>> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
            for (PlanStorage<?> storage : supplied) {
                requireUsable(storage, transport, "receiveInto");
                if (!distinct.add(storage)) {
                    throw new IllegalArgumentException("receiveInto got the same storage twice: a flip needs two "
                            + "storages of their own");
                }
            }
        }
    }

    /**
     * After the plan is known: the receiver's data plane into {@code supplied}, or into storage it allocates from
     * {@code plan} (device memory on the transport's device, or arena memory), which it then owns.
     *
     * @throws JoinRejectedException {@link FailureReason#PLAN_MISMATCH} when a supplied storage is laid out by
     *                               another plan, naming both fingerprints
     */
    static Receiving receiver(BucketPlan plan, CommitMode mode, List<PlanStorage<?>> supplied, Transport transport,
            InetAddress sender, SyncListener listener, Consumer<Wire.Message> toSender) {
        for (PlanStorage<?> storage : supplied) {
            if (!storage.hasLayoutOf(plan)) {
                throw new JoinRejectedException(FailureReason.PLAN_MISMATCH, "the receiver's storage is laid out by "
                        + "plan " + storage.plan().fingerprint() + " (" + storage.plan() + "), the sender's plan is "
                        + plan.fingerprint() + " (" + plan + "): allocate the storage from the plan the sender "
                        + "announces (allocateStorage()), or plan both sides from the same inventory and bucket size");
            }
        }
        return switch (transport) {
            case NcclTransport nccl -> {
                StorageTarget<DevicePlanStorage> target = target(plan, mode,
                        supplied.stream().map(DevicePlanStorage.class::cast).toList(), () -> {
                            Cuda.setDevice(nccl.device());
                            return DevicePlanStorage.allocate(plan);
                        });
                yield new Receiving(openUpdates(target, () -> new ReceiverUpdates<>(nccl,
                        new StorageReceiverPipeline.Device(plan, nccl.device(), target), sender, plan, listener,
                        toSender)), target);
            }
            case HostTcpTransport host -> {
                StorageTarget<HostPlanStorage> target = target(plan, mode,
                        supplied.stream().map(HostPlanStorage.class::cast).toList(), () -> HostPlanStorage.allocate(plan));
                yield new Receiving(new ReceiverUpdates<>(host, new StorageReceiverPipeline.Host(plan, target), sender,
                        plan, listener, toSender), target);
            }
        };
    }

    /** A storage receiver's data plane and where its updates land (what the application reads them through). */
    record Receiving(ReceiverUpdates<?> updates, StorageTarget<?> target) {
    }

    /** The updates over {@code target}; frees what the target allocated if they cannot be built. */
    private static ReceiverUpdates<?> openUpdates(StorageTarget<?> target, Supplier<ReceiverUpdates<?>> updates) {
        try {
            return updates.get();
        } catch (RuntimeException e) {
            target.close();
            throw e;
        }
    }

    private static <S extends PlanStorage<?>> StorageTarget<S> target(BucketPlan plan, CommitMode mode, List<S> supplied,
            Supplier<S> allocate) {
        if (mode == CommitMode.IN_PLACE) {
            return supplied.isEmpty() ? new StorageTarget.InPlace<>(allocate.get(), true)
                    : new StorageTarget.InPlace<>(supplied.get(0), false);
        }
        if (!supplied.isEmpty()) {
            return new StorageTarget.Flip<>(new StagedWeights<>(plan, supplied.get(0), supplied.get(1), false));
        }
        S first = allocate.get();
        try {
            return new StorageTarget.Flip<>(new StagedWeights<>(plan, first, allocate.get(), true));
        } catch (RuntimeException e) {
            first.close();
            throw e;
        }
    }

    /** The storage is open and of the transport's memory (on its device). */
    private static void requireUsable(PlanStorage<?> storage, Transport transport, String where) {
        if (storage.isClosed()) {
            throw new IllegalArgumentException(where + " got a closed storage: " + storage);
        }
        switch (transport) {
            case NcclTransport nccl -> {
                if (!(storage instanceof DevicePlanStorage device)) {
                    throw new IllegalStateException("the nccl transport moves device memory: " + where + " needs a "
                            + "DevicePlanStorage, not " + storage);
                }
                if (device.device() != nccl.device()) {
                    throw new IllegalArgumentException(where + " got storage on device " + device.device()
                            + ", the transport runs on device " + nccl.device() + ": allocate it with that device "
                            + "current, or use Transport.nccl(" + device.device() + ")");
                }
            }
            case HostTcpTransport host -> {
                if (!(storage instanceof HostPlanStorage)) {
                    throw new IllegalStateException("the " + host.name() + " transport moves host memory: " + where
                            + " needs a HostPlanStorage, not " + storage + " (device storage needs Transport.nccl)");
                }
            }
        }
    }
}
