package io.github.panamanccl.sync;

import java.lang.foreign.MemorySegment;
import java.net.InetAddress;

/**
 * The data plane (SPI): how bucket bytes travel from the sender (rank 0) to every receiver (ranks 1..n).
 * Groups are formed like NCCL communicators: the root opens a {@link Rendezvous} whose bytes the control plane
 * hands to every receiver, and all ranks {@linkplain #connect connect} before a deadline. A group carries a
 * sequence of broadcasts, one per bucket, in the same order on every rank; after any failure it is
 * {@linkplain Group#abort() aborted} and a new one is formed for the next update.
 *
 * <p>Implementations: {@link #hostTcp()} (host memory over TCP, with a CRC32C per bucket) and
 * {@link #nccl(int)} (device memory, one {@code ncclBroadcast} per bucket).
 */
public interface Transport {

    /** The host TCP transport: buckets in host memory, one TCP connection from the root to each receiver. */
    static Transport hostTcp() {
        return HostTcpTransport.INSTANCE;
    }

    /** Name the sender announces and receivers check, e.g. {@code "host-tcp"}. */
    String name();

    /** Root side: prepares a group of {@code worldSize} ranks, reachable at {@code bindAddress}. */
    Rendezvous openRendezvous(InetAddress bindAddress, int worldSize);

    /**
     * Receiver side: joins the group described by {@code rendezvous}; collective with the root's
     * {@link Rendezvous#awaitGroup}.
     *
     * @param senderAddress the address the control connection reached the sender at
     * @param deadlineNanos absolute {@link System#nanoTime()} deadline
     */
    Group connect(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize, long deadlineNanos);

    /** The root's half of a group being formed. */
    interface Rendezvous extends AutoCloseable {
        /** Opaque bytes every receiver needs to connect (at most 4096). */
        byte[] bytes();

        /** Waits until every receiver has connected; collective. */
        Group awaitGroup(long deadlineNanos);

        /** Releases what was not handed to a group; idempotent. */
        @Override
        void close();
    }

    /** A formed group of ranks. Broadcast methods are in the memory-specific subtypes. */
    interface Group extends AutoCloseable {
        int rank();

        int worldSize();

        /** Broadcast calls issued on this group so far (one per bucket). */
        long collectiveCalls();

        /** From any thread: makes in-flight and later operations fail promptly with {@link TransportException}. */
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
         * @throws TransportException on deadline, peer failure, corruption or abort
         */
        void broadcast(MemorySegment bucket, BucketTag tag, long deadlineNanos);
    }

    /** Identifies one broadcast so a receiver can check it got the bucket it expects. */
    record BucketTag(long version, int bucket, int bucketCount) {
    }
}
