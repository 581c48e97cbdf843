package io.github.panamanccl.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.WeightReceiver;
import io.github.panamanccl.sync.WeightSender;

/**
 * A sender and {@code n} receivers in this process, over the host TCP transport on loopback, each rank with its
 * own copy of every tensor. Syncs the model either bucketed (WeightSender / WeightReceiver: plan, buckets
 * written straight from the tensors, one broadcast per bucket) or per tensor (the same transport, one broadcast
 * per tensor, no plan), and verifies the receivers' tensors against the sender's checksums. Public for the
 * benchmarks in bench/.
 */
public final class LoopbackCluster implements DemoCluster {

    private final List<TensorSpec> tensors;
    private final Duration deadline;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] senderTensors;
    private final List<MemorySegment[]> receiverTensors = new ArrayList<>();
    private final List<WeightReceiver> receivers = new ArrayList<>();
    private final ExecutorService receiverPool;
    private final ProgressRelay bucketProgress = new ProgressRelay();
    private final PerTensorGroup<Transport.HostGroup> perTensorGroup;
    private WeightSender sender;

    private LoopbackCluster(List<TensorSpec> tensors, int receiverCount, Duration deadline) {
        this.tensors = List.copyOf(tensors);
        this.deadline = deadline;
        this.senderTensors = SyntheticWeights.allocate(this.tensors, arena);
        for (int r = 0; r < receiverCount; r++) {
            receiverTensors.add(SyntheticWeights.allocate(this.tensors, arena));
        }
        this.receiverPool = Executors.newFixedThreadPool(receiverCount,
                task -> Thread.ofPlatform().daemon().name("demo-receiver").unstarted(task));
        this.perTensorGroup = new PerTensorGroup<>(Transport.HostGroup.class, rank -> Transport.hostTcp(),
                this::receiverThread, receiverCount, deadline);
    }

    /**
     * Allocates every rank's tensors, starts the sender and joins the receivers (in-place commit: each receiver
     * reads every bucket straight into its tensors, with no bucket buffer).
     *
     * @param deadline bound of every join, update and per-tensor sync
     */
    public static LoopbackCluster start(List<TensorSpec> tensors, long bucketBytes, int receiverCount, Duration deadline) {
        LoopbackCluster cluster = new LoopbackCluster(tensors, receiverCount, deadline);
        try {
            String token = ClusterSteps.newToken();
            cluster.sender = WeightSender.builder()
                    .inventory(cluster.tensors, bucketBytes)
                    .hostSources(SyntheticWeights.byName(cluster.tensors, cluster.senderTensors))
                    .receivers(receiverCount)
                    .token(token)
                    .listener(cluster.bucketProgress)
                    .start();
            for (int r = 0; r < receiverCount; r++) {
                cluster.receivers.add(ClusterSteps.receiverOf(cluster.sender, token, "receiver-" + (r + 1))
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
        return ClusterSteps.syncBucketed(sender, receivers, this::receiverThread, bucketProgress, version, progress, deadline);
    }

    @Override
    public SyncResult syncPerTensor(long version, Progress progress) {
        perTensorGroup.formIfAbsent();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        int count = tensors.size();
        List<Future<Void>> received = new ArrayList<>();
        for (int r = 0; r < receivers.size(); r++) {
            Transport.HostGroup member = perTensorGroup.member(r);
            MemorySegment[] destination = receiverTensors.get(r);
            received.add(receiverThread(r).submit(() -> {
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
                perTensorGroup.root().broadcast(senderTensors[t], new Transport.BucketTag(version, t, count), deadlineNanos);
                done += senderTensors[t].byteSize();
                progress.update(done, total);
            }
            ClusterSteps.awaitAll(received, deadline);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, total, 0, count, seconds);
        } catch (RuntimeException e) {
            perTensorGroup.abort();
            throw e;
        } finally {
            ClusterSteps.cancelAll(received);
        }
    }

    @Override
    public Verification verify(int[] expectedChecksums) {
        List<Future<Optional<String>>> checks = new ArrayList<>();
        for (int r = 0; r < receivers.size(); r++) {
            MemorySegment[] destination = receiverTensors.get(r);
            checks.add(receiverThread(r).submit(() -> firstMismatch(destination, expectedChecksums)));
        }
        return ClusterSteps.verification(checks, deadline);
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

    /** Every receiver shares one pool: host memory binds a receiver to no particular thread. */
    private ExecutorService receiverThread(int receiver) {
        return receiverPool;
    }

    @Override
    public void close() {
        perTensorGroup.abort();
        receivers.forEach(WeightReceiver::close);
        receivers.clear();
        if (sender != null) {
            sender.close();
            sender = null;
        }
        receiverPool.shutdownNow();
        try {
            receiverPool.awaitTermination(deadline.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
