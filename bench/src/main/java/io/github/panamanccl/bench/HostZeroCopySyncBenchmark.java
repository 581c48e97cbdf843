package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.bucket.HostTensorView;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.cli.SyntheticWeights;
import io.github.panamanccl.sync.CommitMode;
import io.github.panamanccl.sync.StagedWeights;
import io.github.panamanccl.sync.UpdateReport;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * The same whole update (WeightSender to one WeightReceiver in this JVM, host TCP transport over loopback, a model
 * of {@code modelMiB} in {@code tensors} tensors of Qwen3-30B-A3B, {@link BenchModels#hostModel}, buckets of
 * {@code bucketMiB}) from and into separate tensors against zero-copy, timed from publish to the receiver's commit:
 * {@code packScatterInPlace} / {@code packScatterStaged}: the tensors are separate allocations (tensor maps). Until
 * issue 15 the sender packed each bucket into a bucket buffer and the receiver scattered it into its tensors (the
 * 2026-12-02 results); since then the host transport writes each bucket from the tensors with gathering writes and
 * an in-place receiver reads it into them with scattering reads, while a staged one still scatters from its
 * staging area after all arrived. {@code zeroCopyInPlace} / {@code zeroCopyFlip}: both sides keep the weights in
 * {@link HostPlanStorage}, each bucket goes from the sender's storage into the socket and from the socket into the
 * receiver's storage (in place, or flipped between two). What is left in both is the transport's own cost (the
 * kernel's socket copies and the CRC32C of every bucket), so the ratio is what separate tensors add on the CPU
 * side. Each trial checks its method's result once, before timing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostZeroCopySyncBenchmark {
    private static final Duration DEADLINE = Duration.ofMinutes(1);

    @Param("18867")
    public int tensors;

    @Param("256")
    public int modelMiB;

    @Param("4")
    public int bucketMiB;

    private Arena arena;
    private HostPlanStorage senderStorage;
    private SyncPair pair;
    private long version;

    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        Inventory model = BenchModels.hostModel(tensors, (long) modelMiB << 20);
        BucketPlan plan = BucketPlanner.plan(model.tensors(), (long) bucketMiB << 20);
        String method = benchmark.getBenchmark().substring(benchmark.getBenchmark().lastIndexOf('.') + 1);
        arena = Arena.ofShared();
        CommitMode mode = method.endsWith("InPlace") ? CommitMode.IN_PLACE : CommitMode.STAGED;
        MemorySegment[] sent;
        int[] received;
        if (method.startsWith("packScatter")) {
            sent = SyntheticWeights.allocate(plan.tensors(), arena);
            MemorySegment[] into = SyntheticWeights.allocate(plan.tensors(), arena);
            pair = SyncPair.start(s -> s.plan(plan).hostSources(SyntheticWeights.byName(plan.tensors(), sent)),
                    r -> r.commitMode(mode).scatterInto(SyntheticWeights.byName(plan.tensors(), into)), DEADLINE);
            SyntheticWeights.fill(sent, 1);
            update();
            received = SyntheticWeights.checksums(into);
        } else {
            senderStorage = HostPlanStorage.allocate(plan);
            sent = segments(senderStorage.tensors());
            pair = SyncPair.start(s -> s.sources(senderStorage), r -> r.commitMode(mode).allocateStorage(), DEADLINE);
            SyntheticWeights.fill(sent, 1);
            update();
            if (mode == CommitMode.IN_PLACE) {
                received = SyntheticWeights.checksums(segments(pair.receiver.storage(HostPlanStorage.class).tensors()));
            } else {
                StagedWeights<HostPlanStorage> weights = pair.receiver.stagedWeights(HostPlanStorage.class);
                try (StagedWeights.Lease<HostPlanStorage> lease = weights.acquire()) {
                    received = SyntheticWeights.checksums(segments(lease.storage().tensors()));
                }
            }
        }
        if (!Arrays.equals(SyntheticWeights.checksums(sent), received)) {
            throw new IllegalStateException(method + ": the receiver's tensors differ from the sender's after an update");
        }
    }

    private static MemorySegment[] segments(List<HostTensorView> views) {
        return views.stream().map(HostTensorView::segment).toArray(MemorySegment[]::new);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (pair != null) {
            pair.close();
        }
        if (senderStorage != null) {
            senderStorage.close();
        }
        arena.close();
    }

    private UpdateReport update() {
        return pair.update(++version);
    }

    @Benchmark
    public UpdateReport packScatterInPlace() {
        return update();
    }

    @Benchmark
    public UpdateReport packScatterStaged() {
        return update();
    }

    @Benchmark
    public UpdateReport zeroCopyInPlace() {
        return update();
    }

    @Benchmark
    public UpdateReport zeroCopyFlip() {
        return update();
    }
}
