package io.github.panamanccl.sync;

import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.NativeAccess;

import java.lang.foreign.MemorySegment;
import java.net.InetAddress;

/**
 * The data plane: how bucket bytes travel from the sender (rank 0) to every receiver (ranks 1..n).
 * Groups are formed like NCCL communicators: the root opens a {@link Rendezvous} whose bytes the control plane
 * hands to every receiver, every receiver {@linkplain #join joins}, and all ranks wait in
 * {@link PendingGroup#awaitGroup} until the group is complete or a deadline passes. While they wait, any thread
 * that learns the formation is doomed (a peer lost on the control plane) may {@linkplain PendingGroup#abort()
 * abort} it. A group carries a sequence of broadcasts, one per bucket, in the same order on every rank; after any
 * failure it is {@linkplain Group#abort() aborted} and a new one is formed for the next update.
 *
 * <p>Not a service-provider interface: it is sealed, and the two factories are the API, {@link #hostTcp()} (host
 * memory over TCP, with a CRC32C per bucket) and {@link #nccl(int)} (device memory, one {@code ncclBroadcast} per
 * bucket); {@link WeightSender} and {@link WeightReceiver} pick their memory pipelines by which one they get. The
 * group types below are public so that tools (the demo's per-tensor baseline) can broadcast over a formed group.
 */
public sealed interface Transport permits HostTcpTransport, NcclTransport {

    /**
     * The host TCP transport: buckets in host memory, one TCP connection from the root to each receiver, written
     * and read with gathering and scattering socket calls straight from and into the tensors. Needs no native
     * access: it works the same in a JVM that denies it ({@code --illegal-native-access=deny}).
     */
    static Transport hostTcp() {
        return HostTcpTransport.INSTANCE;
    }

    /**
     * The NCCL transport: buckets in device memory on CUDA device {@code device}, one {@code ncclBroadcast} per
     * bucket on a non-blocking communicator polled with {@code ncclCommGetAsyncError} until the deadline (then
     * aborted). No checksum: NCCL's own transport integrity is relied on, and a CRC would cost a device pass.
     *
     * @throws IllegalStateException the JVM denies native access ({@code --illegal-native-access=deny} without
     *                               {@code --enable-native-access}): the message names the option to pass
     */
    static Transport nccl(int device) {
        NativeAccess.require("the nccl transport");
        return new NcclTransport(device);
    }

    /** Name the sender announces and receivers check, e.g. {@code "host-tcp"}. */
    String name();

    /** Root side: prepares a group of {@code worldSize} ranks, reachable at {@code bindAddress}. */
    Rendezvous openRendezvous(InetAddress bindAddress, int worldSize);

    /**
     * Receiver side: starts joining the group described by {@code rendezvous}; the group forms in
     * {@link PendingGroup#awaitGroup}, collective with the root's {@link Rendezvous#awaitGroup}.
     *
     * @param senderAddress the address the control connection reached the sender at
     */
    PendingGroup join(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize);

    /** One rank's part of a group being formed. */
    interface PendingGroup extends AutoCloseable {
        /**
         * Waits until every rank has joined; collective.
         *
         * @param deadlineNanos absolute {@link System#nanoTime()} deadline
         * @throws SyncException on deadline, peer failure or {@link #abort()}
         */
        Group awaitGroup(long deadlineNanos);

        /**
         * From any thread: an {@link #awaitGroup} in progress, or a later one, fails promptly with a
         * {@link SyncException}. Idempotent; never throws.
         * Does nothing to a group already handed out (abort that group instead).
         */
        void abort();

        /** Releases what was not handed to a group; idempotent. */
        @Override
        void close();
    }

    /** The root's part of a group being formed. */
    interface Rendezvous extends PendingGroup {
        /** Opaque bytes every receiver needs to join (at most 4096). */
        byte[] bytes();
    }

    /** A formed group of ranks. Broadcast methods are in the memory-specific subtypes. */
    interface Group extends AutoCloseable {
        /** This rank: 0 for the sender (root), 1..{@code worldSize - 1} for receivers. */
        int rank();

        /** Ranks in the group: the sender plus every receiver. */
        int worldSize();

        /** Broadcast calls issued on this group so far (one per bucket). */
        long collectiveCalls();

        /** From any thread: makes in-flight and later operations fail promptly with a {@link SyncException}. */
        void abort();

        /** Idempotent. */
        @Override
        void close();
    }

    /** A group whose buckets live in host memory. */
    interface HostGroup extends Group {
        /**
         * Root: sends {@code bucket} to every receiver. Receiver: fills {@code bucket} (exactly the bucket's size)
         * and validates it against {@code tag}. Returns when this rank is done with {@code bucket}.
         *
         * @throws SyncException on deadline, peer failure, corruption or abort
         */
        void broadcast(MemorySegment bucket, BucketTag tag, long deadlineNanos);
    }

    /**
     * A group whose buckets live in device memory. Work is ordered on the group's stream by CUDA events, so the
     * host only enqueues and then waits.
     */
    interface DeviceGroup extends Group {
        /**
         * Enqueues the broadcast of {@code bucket} on {@link #stream()}: after {@code ready} (recorded by whoever
         * filled or last read the buffer), then records {@code done}. Root sends, receivers fill.
         *
         * @param ready an event the broadcast waits for; null when nothing needs to be waited for
         * @param done  an event recorded after the broadcast; null when nobody needs one ({@link #await} still
         *              waits for the broadcast)
         */
        void broadcast(DeviceMemory bucket, BucketTag tag, CudaEvent ready, CudaEvent done);

        /**
         * Waits until everything enqueued has completed, watching for peer errors.
         *
         * @throws SyncException on deadline (the group is aborted), peer error or abort
         */
        void await(long deadlineNanos);

        /** The stream broadcasts run on. */
        CudaStream stream();
    }

    /** Identifies one broadcast so a receiver can check it got the bucket it expects. */
    record BucketTag(long version, int bucket, int bucketCount) {
    }
}
