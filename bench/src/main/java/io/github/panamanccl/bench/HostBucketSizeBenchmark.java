package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.cli.DemoCluster;
import io.github.panamanccl.cli.LoopbackCluster;
import io.github.panamanccl.cli.ModelInventories;

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
 * Bucketed sync of every tensor of Qwen3-30B-A3B scaled to {@code modelMiB}, over the host TCP transport on
 * loopback, against the bucket size: small buckets pay per-bucket overhead, large ones lose pipelining.
 * GB/s = modelMiB / score (the chart renderer computes it).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostBucketSizeBenchmark {
    @Param({"1", "4", "16", "64", "256"})
    public int bucketMiB;

    @Param("256")
    public int modelMiB;

    @Param("1")
    public int receivers;

    private LoopbackCluster cluster;
    private long version;

    @Setup(Level.Trial)
    public void setUp() {
        Inventory model = ModelInventories.load("qwen3-30b-a3b").scaledToFit((long) modelMiB << 20);
        cluster = LoopbackCluster.start(model.tensors(), (long) bucketMiB << 20, receivers, Duration.ofMinutes(2));
        version = 0;
        BenchModels.checkVerified(cluster, ++version, v -> cluster.syncBucketed(v, DemoCluster.Progress.NONE));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        cluster.close();
    }

    @Benchmark
    public DemoCluster.SyncResult bucketed() {
        return cluster.syncBucketed(++version, DemoCluster.Progress.NONE);
    }
}
