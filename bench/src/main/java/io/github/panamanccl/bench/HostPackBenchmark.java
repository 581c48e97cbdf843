package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.HostBucketPacker;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;
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
 * Host pack + unpack of a realistic inventory (Qwen3-30B-A3B) through buckets of {@code bucketMiB}, against the same
 * bytes moved by one bulk copy each way ({@code bulkCopy}, one thread). Both move the model into staging memory of
 * the model's size and back out to other tensors. Ratio bulkCopy / packUnpack close to 1 means packing costs no more
 * than copying.
 *
 * <p>{@code sizes}: {@code scaled} = all 18 867 tensors scaled down to {@code modelMiB} (about 14 KiB each at
 * 256 MiB, 56 KiB at 1 GiB); {@code real} = the leading tensors at their real sizes up to {@code modelMiB} (mostly
 * 3 MiB experts). {@code allocation}: {@code separate} = one allocation per tensor (as a framework holds them);
 * {@code contiguous} = one buffer, tensors back to back at 256-byte alignment (a flat parameter buffer).
 * {@code packUnpack} uses the packer's default parallelism (one thread per available processor),
 * {@code packUnpackOneThread} one thread; {@code bulkCopyAllThreads} is the bulk copy split over the same threads;
 * {@code tensorByTensorCopy} (one copy per tensor, no plan) separates the cost of many small copies from the plan.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostPackBenchmark {
    /** Tensor start alignment in the contiguous layout, as the plan's and CUDA's allocators use. */
    private static final long ALIGNMENT = 256;

    @Param("qwen3-30b-a3b")
    public String inventory;

    @Param({"256", "1024"})
    public int modelMiB;

    @Param("64")
    public int bucketMiB;

    @Param({"scaled", "real"})
    public String sizes;

    @Param("separate")
    public String allocation;

    private Arena arena;
    private BucketPlan plan;
    private MemorySegment[] sources;
    private MemorySegment[] destinations;
    private MemorySegment[] buckets;
    private MemorySegment contiguousSource;
    private MemorySegment contiguousStaging;
    private MemorySegment contiguousDestination;
    private int threads;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        Inventory model = BenchModels.sized(inventory, sizes, (long) modelMiB << 20);
        plan = BucketPlanner.plan(model.tensors(), (long) bucketMiB << 20);
        sources = allocate(model.tensors());
        SyntheticWeights.fill(sources, 1);
        destinations = allocate(model.tensors());
        buckets = new MemorySegment[plan.bucketCount()];
        for (int bucket = 0; bucket < buckets.length; bucket++) {
            buckets[bucket] = arena.allocate(plan.bucketByteSize(bucket), ALIGNMENT);
        }
        long total = model.totalBytes();
        contiguousSource = arena.allocate(total, ALIGNMENT).fill((byte) 1);
        contiguousStaging = arena.allocate(total, ALIGNMENT).fill((byte) 0);
        contiguousDestination = arena.allocate(total, ALIGNMENT).fill((byte) 0);
        threads = Runtime.getRuntime().availableProcessors();
        // Checked once, before timing: packing then scattering must reproduce every tensor, on one thread and on all.
        for (Runnable roundTrip : new Runnable[] {this::packUnpackOneThread, this::packUnpack}) {
            for (MemorySegment destination : destinations) {
                destination.fill((byte) 0);
            }
            roundTrip.run();
            for (int i = 0; i < sources.length; i++) {
                if (sources[i].mismatch(destinations[i]) != -1) {
                    throw new IllegalStateException("tensor " + plan.tensor(i).name() + " differs after pack + unpack");
                }
            }
        }
    }

    private MemorySegment[] allocate(List<TensorSpec> tensors) {
        return switch (allocation) {
            case "separate" -> SyntheticWeights.allocate(tensors, arena);
            case "contiguous" -> {
                long[] offsets = new long[tensors.size() + 1];
                for (int i = 0; i < tensors.size(); i++) {
                    long aligned = (tensors.get(i).byteSize() + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
                    offsets[i + 1] = offsets[i] + aligned;
                }
                MemorySegment buffer = arena.allocate(Math.max(1, offsets[tensors.size()]), ALIGNMENT);
                MemorySegment[] segments = new MemorySegment[tensors.size()];
                for (int i = 0; i < segments.length; i++) {
                    segments[i] = buffer.asSlice(offsets[i], tensors.get(i).byteSize());
                }
                yield segments;
            }
            default -> throw new IllegalArgumentException("allocation = " + allocation + ": not separate or contiguous");
        };
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

    @Benchmark
    public MemorySegment[] packUnpackOneThread() {
        for (int bucket = 0; bucket < buckets.length; bucket++) {
            HostBucketPacker.pack(plan, bucket, sources, buckets[bucket], 1);
        }
        for (int bucket = 0; bucket < buckets.length; bucket++) {
            HostBucketPacker.scatter(plan, bucket, buckets[bucket], destinations, 1);
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

    /** {@code bulkCopy} with each copy split into one range per available processor, on the common pool. */
    @Benchmark
    public MemorySegment bulkCopyAllThreads() {
        copyInRanges(contiguousSource, contiguousStaging);
        copyInRanges(contiguousStaging, contiguousDestination);
        return contiguousDestination;
    }

    private void copyInRanges(MemorySegment from, MemorySegment to) {
        long size = from.byteSize();
        List<ForkJoinTask<?>> ranges = new ArrayList<>(threads);
        for (int i = 0; i < threads; i++) {
            long start = size / threads * i;
            long end = i == threads - 1 ? size : size / threads * (i + 1);
            ranges.add(ForkJoinTask.adapt(() -> MemorySegment.copy(from, start, to, start, end - start)));
        }
        ForkJoinTask.invokeAll(ranges);
    }
}
