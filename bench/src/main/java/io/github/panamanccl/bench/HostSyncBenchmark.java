package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.cli.DemoCluster;
import io.github.panamanccl.cli.LoopbackCluster;

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
 * One full sync of a model of {@code modelMiB} split into {@code tensors} tensors (evenly spaced tensors of
 * Qwen3-30B-A3B, scaled), sender and receiver in this JVM over the host TCP transport on loopback:
 * {@code bucketed} = WeightSender/WeightReceiver (plan, packed buckets of {@code bucketMiB}, one broadcast per
 * bucket, in-place commit); {@code perTensor} = the same transport, one broadcast per tensor, no packing.
 * Both are verified by checksum once per trial, before timing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostSyncBenchmark {
    @Param({"1000", "4000", "18867"})
    public int tensors;

    @Param("64")
    public int modelMiB;

    @Param("16")
    public int bucketMiB;

    @Param("1")
    public int receivers;

    private LoopbackCluster cluster;
    private long version;

    @Setup(Level.Trial)
    public void setUp() {
        cluster = LoopbackCluster.start(BenchModels.evenlySpaced("qwen3-30b-a3b", tensors, (long) modelMiB << 20).tensors(),
                (long) bucketMiB << 20, receivers, Duration.ofMinutes(2));
        version = 0;
        BenchModels.checkVerified(cluster, ++version, v -> cluster.syncBucketed(v, DemoCluster.Progress.NONE));
        BenchModels.checkVerified(cluster, ++version, v -> cluster.syncPerTensor(v, DemoCluster.Progress.NONE));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        cluster.close();
    }

    @Benchmark
    public DemoCluster.SyncResult bucketed() {
        return cluster.syncBucketed(++version, DemoCluster.Progress.NONE);
    }

    @Benchmark
    public DemoCluster.SyncResult perTensor() {
        return cluster.syncPerTensor(++version, DemoCluster.Progress.NONE);
    }
}
