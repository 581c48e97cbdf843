package io.github.panamanccl.bench;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.PlanJson;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.cli.ModelInventories;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Cost of the bucket plan of a whole model: planning the inventory, encoding and decoding the binary plan (what a
 * receiver pays per weight version), and the JSON export/import. Setup prints the encoded sizes.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class PlanCodecBenchmark {
    @Param({"qwen3-next-80b-a3b"})
    public String inventory;

    @Param({"536870912"})
    public long bucketCapBytes;

    private List<TensorSpec> tensors;
    private BucketPlan plan;
    private byte[] encoded;
    private String json;

    @Setup
    public void setUp() {
        tensors = ModelInventories.load(inventory).tensors();
        plan = BucketPlanner.plan(tensors, bucketCapBytes);
        encoded = PlanCodec.encode(plan);
        json = PlanJson.toJson(plan);
        System.out.printf("%n%s: %s; binary plan %d bytes (%.1f per tensor), JSON %d chars%n", inventory, plan,
                encoded.length, (double) encoded.length / plan.tensorCount(), json.length());
    }

    @Benchmark
    public BucketPlan plan() {
        return BucketPlanner.plan(tensors, bucketCapBytes);
    }

    @Benchmark
    public byte[] encode() {
        return PlanCodec.encode(plan);
    }

    @Benchmark
    public BucketPlan decode() {
        return PlanCodec.decode(encoded);
    }

    @Benchmark
    public String toJson() {
        return PlanJson.toJson(plan);
    }

    @Benchmark
    public BucketPlan fromJson() {
        return PlanJson.fromJson(json);
    }
}
