package io.github.panamanccl.cli;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

import io.github.panamanccl.sync.Transport;

/**
 * The group a demo cluster's per-tensor sync broadcasts over: the sender's root, formed on the calling thread, and
 * one member per receiver, each formed on that receiver's thread. Formed on first use and kept for later syncs;
 * after a failure it is aborted, so the next sync forms a fresh one.
 *
 * @param <G> the group's memory kind ({@link Transport.HostGroup} or {@link Transport.DeviceGroup})
 */
final class PerTensorGroup<G extends Transport.Group> {
    private final Class<G> kind;
    private final IntFunction<Transport> transportOfRank;
    private final IntFunction<ExecutorService> threadOfReceiver;
    private final int receivers;
    private final Duration deadline;
    private G root;
    private final List<G> members = new ArrayList<>();

    /**
     * @param transportOfRank  the transport of rank 0 (the sender) to {@code receivers}
     * @param threadOfReceiver the thread receiver {@code r} (0-based, rank {@code r + 1}) joins on
     * @param deadline         bound of one formation
     */
    PerTensorGroup(Class<G> kind, IntFunction<Transport> transportOfRank, IntFunction<ExecutorService> threadOfReceiver,
                   int receivers, Duration deadline) {
        this.kind = kind;
        this.transportOfRank = transportOfRank;
        this.threadOfReceiver = threadOfReceiver;
        this.receivers = receivers;
        this.deadline = deadline;
    }

    /** Forms the group unless it is formed; when formation fails, aborts what formed and rethrows. */
    void formIfAbsent() {
        if (root != null) {
            return;
        }
        int worldSize = receivers + 1;
        InetAddress loopback = InetAddress.getLoopbackAddress();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        try (Transport.Rendezvous rendezvous = transportOfRank.apply(0).openRendezvous(loopback, worldSize)) {
            byte[] bytes = rendezvous.bytes();
            List<Future<Transport.Group>> joined = new ArrayList<>();
            for (int rank = 1; rank < worldSize; rank++) {
                int memberRank = rank;
                joined.add(threadOfReceiver.apply(rank - 1).submit(() ->
                        join(transportOfRank.apply(memberRank), bytes, loopback, memberRank, worldSize, deadlineNanos)));
            }
            root = kind.cast(rendezvous.awaitGroup(deadlineNanos));
            for (Transport.Group member : ClusterSteps.awaitAll(joined, deadline)) {
                members.add(kind.cast(member));
            }
        } catch (RuntimeException e) {
            abort();
            throw e;
        }
    }

    /** A receiver's part of forming the group: joins and waits until every rank has joined. */
    private static Transport.Group join(Transport transport, byte[] rendezvous, InetAddress sender, int rank,
                                        int worldSize, long deadlineNanos) {
        try (Transport.PendingGroup pending = transport.join(rendezvous, sender, rank, worldSize)) {
            return pending.awaitGroup(deadlineNanos);
        }
    }

    /** The sender's end; only after {@link #formIfAbsent()}. */
    G root() {
        return root;
    }

    /** Receiver {@code r}'s end (rank {@code r + 1}); only after {@link #formIfAbsent()}. */
    G member(int r) {
        return members.get(r);
    }

    /** Aborts and closes every end formed so far; the next {@link #formIfAbsent()} forms anew. Idempotent. */
    void abort() {
        if (root != null) {
            root.abort();
            root.close();
        }
        members.forEach(member -> {
            member.abort();
            member.close();
        });
        root = null;
        members.clear();
    }
}
