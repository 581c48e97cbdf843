package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.HostBucketPacker;
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
 * Host pack + unpack of every tensor of a realistic inventory (Qwen3-30B-A3B: 18 867 tensors, scaled to
 * {@code modelMiB}) through buckets of {@code bucketMiB}, against the same bytes moved by one bulk copy each way
 * ({@code bulkCopy}). Both move the model into staging memory of the model's size and back out to other tensors.
 * Ratio bulkCopy / packUnpack close to 1 means packing costs no more than copying; {@code tensorByTensorCopy}
 * (one copy per tensor, no plan) separates the cost of many small copies from the cost of the plan.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostPackBenchmark {
    @Param("qwen3-30b-a3b")
    public String inventory;

    /** 256 MiB: tensors of ~14 KiB on average; 1024 MiB: ~56 KiB (the unscaled model averages ~3 MiB). */
    @Param({"256", "1024"})
    public int modelMiB;

    @Param("64")
    public int bucketMiB;

    private Arena arena;
    private BucketPlan plan;
    private MemorySegment[] sources;
    private MemorySegment[] destinations;
    private MemorySegment[] buckets;
    private MemorySegment contiguousSource;
    private MemorySegment contiguousStaging;
    private MemorySegment contiguousDestination;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        Inventory model = Inventory.builtIn(inventory).scaledToFit((long) modelMiB << 20);
        plan = BucketPlanner.plan(model.tensors(), (long) bucketMiB << 20);
        sources = SyntheticWeights.allocate(model.tensors(), arena);
        SyntheticWeights.fill(sources, 1);
        destinations = SyntheticWeights.allocate(model.tensors(), arena);
        buckets = new MemorySegment[plan.bucketCount()];
        for (int bucket = 0; bucket < buckets.length; bucket++) {
            buckets[bucket] = arena.allocate(plan.bucketByteSize(bucket), 256);
        }
        long total = model.totalBytes();
        contiguousSource = arena.allocate(total, 256).fill((byte) 1);
        contiguousStaging = arena.allocate(total, 256).fill((byte) 0);
        contiguousDestination = arena.allocate(total, 256).fill((byte) 0);
        // Checked once, before timing: packing then scattering must reproduce every tensor.
        packUnpack();
        for (int i = 0; i < sources.length; i++) {
            if (sources[i].mismatch(destinations[i]) != -1) {
                throw new IllegalStateException("tensor " + plan.tensor(i).name() + " differs after pack + unpack");
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment[] packUnpack() {
        for (int bucket = 0; bucket < buckets.length; bucket++) {
            HostBucketPacker.pack(plan, bucket, sources, buckets[bucket]);
        }
        for (int bucket = 0; bucket < buckets.length; bucket++) {
            HostBucketPacker.scatter(plan, bucket, buckets[bucket], destinations);
        }
        return destinations;
    }

    /** The same bytes copied tensor by tensor into contiguous staging and back: the cost of many small copies alone. */
    @Benchmark
    public MemorySegment[] tensorByTensorCopy() {
        long offset = 0;
        for (MemorySegment source : sources) {
            MemorySegment.copy(source, 0, contiguousStaging, offset, source.byteSize());
            offset += source.byteSize();
        }
        offset = 0;
        for (MemorySegment destination : destinations) {
            MemorySegment.copy(contiguousStaging, offset, destination, 0, destination.byteSize());
            offset += destination.byteSize();
        }
        return destinations;
    }

    @Benchmark
    public MemorySegment bulkCopy() {
        MemorySegment.copy(contiguousSource, 0, contiguousStaging, 0, contiguousSource.byteSize());
        MemorySegment.copy(contiguousStaging, 0, contiguousDestination, 0, contiguousStaging.byteSize());
        return contiguousDestination;
    }
}
