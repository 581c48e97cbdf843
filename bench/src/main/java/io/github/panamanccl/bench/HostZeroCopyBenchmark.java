package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.HostBucketPacker;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.cli.SyntheticWeights;

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

/**
 * What the zero-copy modes save, on the host: the memory copies of one update of Qwen3-30B-A3B ({@code modelMiB},
 * {@code sizes} as in {@link HostPackBenchmark}) in buckets of {@code bucketMiB}, the transfer itself stood in for by
 * one bulk copy per bucket from sender memory to receiver memory (one thread, the same in both methods).
 *
 * <p>{@code packTransferScatter}: today's path. The sender's tensors are separate allocations; each bucket is packed
 * into a bucket buffer ({@link HostBucketPacker}, default parallelism), copied into the receiver's bucket buffer and
 * scattered into the receiver's separate tensors: three copies of every byte.
 * {@code transferOnly}: both sides keep their weights in {@link HostPlanStorage}; each bucket is copied straight from
 * the sender's storage into the receiver's: one copy of every byte. {@code transferOnly / packTransferScatter} is the
 * share of the update's copy time left once pack and scatter go.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostZeroCopyBenchmark {
    @Param("qwen3-30b-a3b")
    public String inventory;

    @Param("256")
    public int modelMiB;

    @Param("64")
    public int bucketMiB;

    @Param({"scaled", "real"})
    public String sizes;

    private Arena arena;
    private BucketPlan plan;
    private MemorySegment[] senderTensors;
    private MemorySegment[] receiverTensors;
    private MemorySegment senderBucket;
    private MemorySegment receiverBucket;
    private HostPlanStorage senderStorage;
    private HostPlanStorage receiverStorage;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        Inventory model = BenchModels.sized(inventory, sizes, (long) modelMiB << 20);
        plan = BucketPlanner.plan(model.tensors(), (long) bucketMiB << 20);
        senderTensors = SyntheticWeights.allocate(model.tensors(), arena);
        SyntheticWeights.fill(senderTensors, 1);
        receiverTensors = SyntheticWeights.allocate(model.tensors(), arena);
        senderBucket = arena.allocate(plan.maxBucketByteSize(), 256);
        receiverBucket = arena.allocate(plan.maxBucketByteSize(), 256);
        senderStorage = HostPlanStorage.allocate(plan);
        receiverStorage = HostPlanStorage.allocate(plan);
        for (int t = 0; t < senderTensors.length; t++) {
            senderStorage.tensor(t).segment().copyFrom(senderTensors[t]);
        }
        // Checked once, before timing: both paths deliver every tensor.
        packTransferScatter();
        transferOnly();
        for (int t = 0; t < senderTensors.length; t++) {
            if (senderTensors[t].mismatch(receiverTensors[t]) != -1
                    || senderTensors[t].mismatch(receiverStorage.tensor(t).segment()) != -1) {
                throw new IllegalStateException("tensor " + plan.tensor(t).name() + " differs after an update");
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        receiverStorage.close();
        senderStorage.close();
        arena.close();
    }

    @Benchmark
    public MemorySegment[] packTransferScatter() {
        for (int b = 0; b < plan.bucketCount(); b++) {
            long bytes = plan.bucketByteSize(b);
            HostBucketPacker.pack(plan, b, senderTensors, senderBucket);
            MemorySegment.copy(senderBucket, 0, receiverBucket, 0, bytes);
            HostBucketPacker.scatter(plan, b, receiverBucket, receiverTensors);
        }
        return receiverTensors;
    }

    @Benchmark
    public HostPlanStorage transferOnly() {
        for (int b = 0; b < plan.bucketCount(); b++) {
            MemorySegment.copy(senderStorage.bucket(b), 0, receiverStorage.bucket(b), 0, plan.bucketByteSize(b));
        }
        return receiverStorage;
    }
}
