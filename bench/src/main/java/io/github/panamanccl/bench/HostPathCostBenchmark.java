package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Where the host transport's time goes, step by step, on {@link HostSyncBenchmark}'s model ({@code tensors} tensors
 * in {@code modelMiB}, {@code bucketMiB} buckets, two bucket buffers used in turn as the pipelines do): the
 * sender's {@code pack} (HostBucketPacker, default parallelism, and {@code packOneThread}), the receiver's
 * {@code scatter} (and {@code scatterOneThread}), {@code crc32c} over every bucket (what the receiver checks, one
 * end's share), {@code crc32cOfTensors} (the same bytes straight from the source tensors, as the zero-copy sender
 * computes it), and two plain loopback TCP transfers to one receiver: {@code contiguousTcp} (the model as one
 * region, the limit) and {@code gatherTcp} (straight from the sender's tensors into the receiver's, gathering
 * writes and scattering reads: what a zero-copy data path can reach at best). Scores per model; the GB/s of each
 * step is the model's bytes over its score.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 1, time = 1)
@Measurement(iterations = 3, time = 1)
public class HostPathCostBenchmark {
    @Param({"1000", "18867", "74391"})
    public int tensors;

    @Param("64")
    public int modelMiB;

    @Param("16")
    public int bucketMiB;

    private Arena arena;
    private BucketPlan plan;
    private MemorySegment[] sources;
    private MemorySegment[] destinations;
    private MemorySegment[] buffers;
    private LoopbackLimit limit;

    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        Inventory model = BenchModels.hostModel(tensors, (long) modelMiB << 20);
        String method = benchmark.getBenchmark().substring(benchmark.getBenchmark().lastIndexOf('.') + 1);
        switch (method) {
            case "contiguousTcp" -> limit = LoopbackLimit.contiguous(model.totalBytes(), model.totalBytes(), 1,
                    HostSyncBenchmark.DEADLINE);
            case "gatherTcp" -> limit = LoopbackLimit.tensors(model.tensors(), 1, HostSyncBenchmark.DEADLINE);
            default -> {
                arena = Arena.ofShared();
                plan = BucketPlanner.plan(model.tensors(), (long) bucketMiB << 20);
                sources = SyntheticWeights.allocate(model.tensors(), arena);
                SyntheticWeights.fill(sources, 1);
                destinations = SyntheticWeights.allocate(model.tensors(), arena);
                buffers = new MemorySegment[] {arena.allocate(plan.maxBucketByteSize(), 4096),
                    arena.allocate(plan.maxBucketByteSize(), 4096)};
                pack();
            }
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (limit != null) {
            limit.close();
        }
        if (arena != null) {
            arena.close();
        }
    }

    private MemorySegment bucket(int k) {
        return buffers[k % 2].asSlice(0, plan.bucketByteSize(k));
    }

    @Benchmark
    public MemorySegment[] pack() {
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.pack(plan, k, sources, bucket(k));
        }
        return buffers;
    }

    @Benchmark
    public MemorySegment[] packOneThread() {
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.pack(plan, k, sources, bucket(k), 1);
        }
        return buffers;
    }

    @Benchmark
    public MemorySegment[] scatter() {
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.scatter(plan, k, bucket(k), destinations);
        }
        return destinations;
    }

    @Benchmark
    public MemorySegment[] scatterOneThread() {
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.scatter(plan, k, bucket(k), destinations, 1);
        }
        return destinations;
    }

    /** CRC32C of every bucket's bytes, as the transport computes it on each end (one direct-buffer update). */
    @Benchmark
    public long crc32c() {
        long sum = 0;
        for (int k = 0; k < plan.bucketCount(); k++) {
            CRC32C crc = new CRC32C();
            crc.update(bucket(k).asByteBuffer());
            sum += crc.getValue();
        }
        return sum;
    }

    /**
     * CRC32C straight from every source tensor in its own memory, as the zero-copy sender computes a bucket's checksum
     * (one bucket ahead, on its packer thread) before writing the bucket from the same tensors.
     */
    @Benchmark
    public long crc32cOfTensors() {
        CRC32C crc = new CRC32C();
        for (MemorySegment source : sources) {
            crc.update(source.asByteBuffer());
        }
        return crc.getValue();
    }

    @Benchmark
    public long contiguousTcp() {
        return limit.send();
    }

    @Benchmark
    public long gatherTcp() {
        return limit.send();
    }
}
