package io.github.panamanccl.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.sync.CommitMode;
import io.github.panamanccl.sync.SyncException;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.UpdateReport;
import io.github.panamanccl.sync.WeightReceiver;
import io.github.panamanccl.sync.WeightSender;

/**
 * A sender and {@code n} receivers in this process, over the host TCP transport on loopback, each rank with its
 * own copy of every tensor. Syncs the model either bucketed (WeightSender / WeightReceiver: plan, packed
 * buckets, one broadcast per bucket) or per tensor (the same transport, one broadcast per tensor, no packing),
 * and verifies the receivers' tensors against the sender's checksums. Public for the benchmarks in bench/.
 */
public final class LoopbackCluster implements DemoCluster {

    private final List<TensorSpec> tensors;
    private final Duration deadline;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] senderTensors;
    private final List<MemorySegment[]> receiverTensors = new ArrayList<>();
    private final List<WeightReceiver> receivers = new ArrayList<>();
    private final ExecutorService receiverThreads;
    private final ProgressRelay bucketProgress = new ProgressRelay();
    private WeightSender sender;
    private Transport.HostGroup perTensorRoot;
    private final List<Transport.HostGroup> perTensorMembers = new ArrayList<>();

    private LoopbackCluster(List<TensorSpec> tensors, int receiverCount, Duration deadline) {
        this.tensors = List.copyOf(tensors);
        this.deadline = deadline;
        this.senderTensors = SyntheticWeights.allocate(this.tensors, arena);
        for (int r = 0; r < receiverCount; r++) {
            receiverTensors.add(SyntheticWeights.allocate(this.tensors, arena));
        }
        this.receiverThreads = Executors.newFixedThreadPool(receiverCount,
                task -> Thread.ofPlatform().daemon().name("demo-receiver").unstarted(task));
    }

    /**
     * Allocates every rank's tensors, starts the sender and joins the receivers (in-place commit: each receiver
     * holds two bucket buffers besides its tensors).
     *
     * @param deadline bound of every join, update and per-tensor sync
     */
    public static LoopbackCluster start(List<TensorSpec> tensors, long bucketBytes, int receiverCount, Duration deadline) {
        LoopbackCluster cluster = new LoopbackCluster(tensors, receiverCount, deadline);
        try {
            String token = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
            cluster.sender = WeightSender.builder()
                    .inventory(cluster.tensors, bucketBytes)
                    .hostSources(SyntheticWeights.byName(cluster.tensors, cluster.senderTensors))
                    .receivers(receiverCount)
                    .token(token)
                    .listener(cluster.bucketProgress)
                    .start();
            for (int r = 0; r < receiverCount; r++) {
                cluster.receivers.add(WeightReceiver.builder()
                        .sender(InetAddress.getLoopbackAddress().getHostAddress(), cluster.sender.port())
                        .token(token)
                        .name("receiver-" + (r + 1))
                        .expectPlan(cluster.sender.plan().fingerprint())
                        .commitMode(CommitMode.IN_PLACE)
                        .scatterInto(SyntheticWeights.byName(cluster.tensors, cluster.receiverTensors.get(r)))
                        .join(deadline));
            }
            return cluster;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    @Override
    public BucketPlan plan() {
        return sender.plan();
    }

    @Override
    public int[] fillSender(long version) {
        SyntheticWeights.fill(senderTensors, version);
        return SyntheticWeights.checksums(senderTensors);
    }

    @Override
    public SyncResult syncBucketed(long version, Progress progress) {
        List<Future<UpdateReport>> received = new ArrayList<>();
        for (WeightReceiver receiver : receivers) {
            received.add(receiverThreads.submit(() -> receiver.awaitUpdate(deadline)
                    .orElseThrow(() -> new SyncException("no update began within " + deadline))));
        }
        bucketProgress.start(progress, plan().totalBucketBytes());
        try {
            long start = System.nanoTime();
            UpdateReport report = sender.publish(version, deadline);
            awaitAll(received);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, report.bytes(), report.buckets(), report.collectiveCalls(), seconds);
        } finally {
            bucketProgress.stop();
            cancelAll(received);
        }
    }

    @Override
    public SyncResult syncPerTensor(long version, Progress progress) {
        formPerTensorGroup();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        int count = tensors.size();
        List<Future<Void>> received = new ArrayList<>();
        for (int r = 0; r < perTensorMembers.size(); r++) {
            Transport.HostGroup member = perTensorMembers.get(r);
            MemorySegment[] destination = receiverTensors.get(r);
            received.add(receiverThreads.submit(() -> {
                for (int t = 0; t < count; t++) {
                    member.broadcast(destination[t], new Transport.BucketTag(version, t, count), deadlineNanos);
                }
                return null;
            }));
        }
        long total = plan().totalTensorBytes();
        long done = 0;
        try {
            long start = System.nanoTime();
            for (int t = 0; t < count; t++) {
                perTensorRoot.broadcast(senderTensors[t], new Transport.BucketTag(version, t, count), deadlineNanos);
                done += senderTensors[t].byteSize();
                progress.update(done, total);
            }
            awaitAll(received);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, total, 0, count, seconds);
        } catch (RuntimeException e) {
            abortPerTensorGroup();
            throw e;
        } finally {
            cancelAll(received);
        }
    }

    @Override
    public Verification verify(int[] expectedChecksums) {
        List<Future<Optional<String>>> checks = new ArrayList<>();
        for (MemorySegment[] destination : receiverTensors) {
            checks.add(receiverThreads.submit(() -> firstMismatch(destination, expectedChecksums)));
        }
        int verified = 0;
        Optional<String> firstMismatch = Optional.empty();
        for (Optional<String> mismatch : awaitAll(checks)) {
            if (mismatch.isEmpty()) {
                verified++;
            } else if (firstMismatch.isEmpty()) {
                firstMismatch = mismatch;
            }
        }
        return new Verification(verified, receivers.size(), firstMismatch);
    }

    private Optional<String> firstMismatch(MemorySegment[] destination, int[] expected) {
        int[] actual = SyntheticWeights.checksums(destination);
        for (int t = 0; t < actual.length; t++) {
            if (actual[t] != expected[t]) {
                return Optional.of(tensors.get(t).name());
            }
        }
        return Optional.empty();
    }

    private void formPerTensorGroup() {
        if (perTensorRoot != null) {
            return;
        }
        Transport transport = Transport.hostTcp();
        int worldSize = receivers.size() + 1;
        InetAddress loopback = InetAddress.getLoopbackAddress();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        try (Transport.Rendezvous rendezvous = transport.openRendezvous(loopback, worldSize)) {
            byte[] bytes = rendezvous.bytes();
            List<Future<Transport.Group>> joined = new ArrayList<>();
            for (int rank = 1; rank < worldSize; rank++) {
                int memberRank = rank;
                joined.add(receiverThreads.submit(() ->
                        DemoCluster.joinGroup(transport, bytes, loopback, memberRank, worldSize, deadlineNanos)));
            }
            perTensorRoot = (Transport.HostGroup) rendezvous.awaitGroup(deadlineNanos);
            for (Transport.Group member : awaitAll(joined)) {
                perTensorMembers.add((Transport.HostGroup) member);
            }
        } catch (RuntimeException e) {
            abortPerTensorGroup();
            throw e;
        }
    }

    private void abortPerTensorGroup() {
        if (perTensorRoot != null) {
            perTensorRoot.abort();
            perTensorRoot.close();
        }
        perTensorMembers.forEach(member -> {
            member.abort();
            member.close();
        });
        perTensorRoot = null;
        perTensorMembers.clear();
    }

    /** Results of every task; the first failure is rethrown (unchecked ones as they are). */
    private <T> List<T> awaitAll(List<Future<T>> tasks) {
        return DemoCluster.awaitAll(tasks, deadline);
    }

    private static void cancelAll(List<? extends Future<?>> tasks) {
        DemoCluster.cancelAll(tasks);
    }

    @Override
    public void close() {
        abortPerTensorGroup();
        receivers.forEach(WeightReceiver::close);
        receivers.clear();
        if (sender != null) {
            sender.close();
            sender = null;
        }
        receiverThreads.shutdownNow();
        try {
            receiverThreads.awaitTermination(deadline.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
