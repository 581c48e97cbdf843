package io.github.panamanccl.bench;

import java.util.concurrent.TimeUnit;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceBuffer;

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
 * Packing a whole model into GPU buckets: {@code batchedMemcpy} = one cudaMemcpyBatchAsync per bucket;
 * {@code perTensorMemcpyAsync} = one cudaMemcpyAsync per tensor into the same bucket layout;
 * {@code deviceToDeviceMemcpy} = one cudaMemcpy device-to-device of the same total bytes (the bandwidth floor).
 * Needs a GPU: without one setUp fails at once with the reason.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class GpuPackBenchmark {
    @Param("qwen3-30b-a3b")
    public String inventory;

    @Param("16384")
    public int modelMiB;

    @Param("1024")
    public int bucketMiB;

    private GpuModel model;
    private DeviceBuffer contiguousSource;
    private DeviceBuffer contiguousDestination;

    @Setup(Level.Trial)
    public void setUp() {
        model = new GpuModel(inventory, (long) modelMiB << 20, (long) bucketMiB << 20, false);
        contiguousSource = DeviceBuffer.allocate(model.plan.totalTensorBytes());
        contiguousDestination = DeviceBuffer.allocate(model.plan.totalTensorBytes());
        contiguousSource.memset(1);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Closeables.closeAll(contiguousSource, contiguousDestination, model);
    }

    @Benchmark
    public void batchedMemcpy() {
        for (int bucket = 0; bucket < model.plan.bucketCount(); bucket++) {
            model.pack(bucket);
        }
        model.stream.synchronize();
    }

    /** One {@link Cuda#memcpyAsync} per piece on the same (non-blocking) stream as {@code batchedMemcpy}. */
    @Benchmark
    public void perTensorMemcpyAsync() {
        for (int bucket = 0; bucket < model.plan.bucketCount(); bucket++) {
            long[] destinations = model.packDestinations[bucket];
            long[] sources = model.packSources[bucket];
            long[] sizes = model.packSizes[bucket];
            for (int piece = 0; piece < sizes.length; piece++) {
                Cuda.memcpyAsync(destinations[piece], sources[piece], sizes[piece], model.stream);
            }
        }
        model.stream.synchronize();
    }

    /** cudaMemcpy device to device may return before the copy ends: the device synchronize waits for it. */
    @Benchmark
    public void deviceToDeviceMemcpy() {
        Cuda.memcpy(contiguousDestination.address(), contiguousSource.address(), model.plan.totalTensorBytes());
        Cuda.synchronize();
    }
}
