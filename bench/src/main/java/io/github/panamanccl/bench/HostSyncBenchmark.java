package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.bucket.Inventory;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * One full sync of a model of {@code modelMiB} split into {@code tensors} tensors ({@link BenchModels#hostModel}:
 * evenly spaced tensors of Qwen3-30B-A3B, or of Qwen3-Next-80B-A3B above 18 867, scaled) from a sender to
 * {@code receivers} receivers in this JVM over loopback: {@code bucketed} = WeightSender/WeightReceiver over the host
 * TCP transport (plan, buckets of {@code bucketMiB} written straight from the tensors, one broadcast per bucket,
 * in-place commit);
 * {@code perTensor} = the same transport, one broadcast per tensor, no packing; {@code rawTcp} = the same bytes as
 * one region per rank over plain loopback TCP, one connection per receiver ({@link LoopbackLimit}), the limit of the
 * transport. Each trial verifies its method's result once, before timing. The torch.distributed gloo peer
 * (bench/host/gloo_peer.py) moves the same tensors with the same parameters.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 2)
public class HostSyncBenchmark {
    static final Duration DEADLINE = Duration.ofMinutes(1);

    @Param({"1000", "4000", "18867", "74391"})
    public int tensors;

    @Param("64")
    public int modelMiB;

    @Param("16")
    public int bucketMiB;

    @Param({"1", "2", "4"})
    public int receivers;

    private LoopbackCluster cluster;
    private LoopbackLimit limit;
    private long version;

    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        Inventory model = BenchModels.hostModel(tensors, (long) modelMiB << 20);
        if (benchmark.getBenchmark().endsWith(".rawTcp")) {
            limit = LoopbackLimit.contiguous(model.totalBytes(), model.totalBytes(), receivers, DEADLINE);
            return;
        }
        cluster = LoopbackCluster.start(model.tensors(), (long) bucketMiB << 20, receivers, DEADLINE);
        version = 0;
        if (benchmark.getBenchmark().endsWith(".perTensor")) {
            BenchModels.checkVerified(cluster, ++version, v -> cluster.syncPerTensor(v, DemoCluster.Progress.NONE));
        } else {
            BenchModels.checkVerified(cluster, ++version, v -> cluster.syncBucketed(v, DemoCluster.Progress.NONE));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (cluster != null) {
            cluster.close();
        }
        if (limit != null) {
            limit.close();
        }
    }

    @Benchmark
    public DemoCluster.SyncResult bucketed() {
        return cluster.syncBucketed(++version, DemoCluster.Progress.NONE);
    }

    @Benchmark
    public DemoCluster.SyncResult perTensor() {
        return cluster.syncPerTensor(++version, DemoCluster.Progress.NONE);
    }

    @Benchmark
    public long rawTcp() {
        return limit.send();
    }
}
