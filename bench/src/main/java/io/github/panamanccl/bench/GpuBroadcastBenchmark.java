package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.Nccl;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclDataType;
import io.github.panamanccl.NcclUniqueId;

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
 * One sync of a whole model on one GPU through NCCL (a communicator of one rank, like bench/gpu/torch_peer.py,
 * so the numbers are the per-call and packing costs, comparable with PyTorch's): {@code perTensor} = one
 * ncclBroadcast per tensor, in place; {@code grouped} = the same calls inside one ncclGroupStart/End;
 * {@code bucketed} = per bucket one cudaMemcpyBatchAsync (pack) and one ncclBroadcast; {@code deviceToDeviceMemcpy}
 * = one cudaMemcpy device to device of the bytes {@code bucketed} moves (every bucket, padding included): the floor
 * the bucketed sync is held to (its trial allocates only the two copy buffers). Needs a GPU and libnccl: without
 * them setUp fails at once with the reason.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class GpuBroadcastBenchmark {
    private static final Duration DEADLINE = Duration.ofMinutes(2);

    @Param({"qwen3-30b-a3b", "qwen3-next-80b-a3b"})
    public String inventory;

    /** torch_peer.py's default size (16 GiB), so the chart compares the same model. */
    @Param("16384")
    public int modelMiB;

    @Param("1024")
    public int bucketMiB;

    private GpuModel model;
    private NcclCommunicator communicator;
    private DeviceBuffer copySource;
    private DeviceBuffer copyTarget;

    @Setup(Level.Trial)
    public void setUp(BenchmarkParams trial) {
        if (trial.getBenchmark().endsWith(".deviceToDeviceMemcpy")) {
            GpuModel.requireGpu(false);
            Cuda.setDevice(0);
            long bytes = GpuModel.plan(inventory, (long) modelMiB << 20, (long) bucketMiB << 20).totalBucketBytes();
            copySource = DeviceBuffer.allocate(bytes);
            copyTarget = DeviceBuffer.allocate(bytes);
            copySource.memset(1);
            return;
        }
        model = new GpuModel(inventory, (long) modelMiB << 20, (long) bucketMiB << 20, true);
        communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Closeables.closeAll(communicator, model, copySource, copyTarget);
    }

    @Benchmark
    public void perTensor() {
        broadcastEachTensor();
        communicator.await(model.stream, DEADLINE);
    }

    @Benchmark
    public void grouped() {
        Nccl.group(this::broadcastEachTensor);
        communicator.await(model.stream, DEADLINE);
    }

    @Benchmark
    public void bucketed() {
        for (int bucket = 0; bucket < model.plan.bucketCount(); bucket++) {
            model.pack(bucket);
            DeviceBuffer buffer = model.bucketBuffer(bucket);
            long bytes = model.plan.bucketByteSize(bucket);
            communicator.broadcast(buffer, buffer, bytes, NcclDataType.UINT8, 0, model.stream);
        }
        communicator.await(model.stream, DEADLINE);
    }

    /** cudaMemcpy device to device may return before the copy ends: the device synchronize waits for it. */
    @Benchmark
    public void deviceToDeviceMemcpy() {
        Cuda.memcpy(copyTarget.address(), copySource.address(), copySource.byteSize());
        Cuda.synchronize();
    }

    private void broadcastEachTensor() {
        for (int t = 0; t < model.plan.tensorCount(); t++) {
            DeviceMemory tensor = model.tensors.get(t);
            long bytes = model.plan.tensor(t).byteSize();
            communicator.broadcast(tensor, tensor, bytes, NcclDataType.UINT8, 0, model.stream);
        }
    }
}
