package io.github.panamanccl.bench;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.Nccl;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclDataType;
import io.github.panamanccl.NcclUniqueId;
import io.github.panamanccl.NcclVersion;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.cli.ModelInventories;
import io.github.panamanccl.sync.CommitMode;
import io.github.panamanccl.sync.StagedWeights;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.UpdateReport;

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
 * One whole update over NCCL of a model of {@code modelMiB} ({@code inventory} scaled, buckets of {@code bucketMiB})
 * from a WeightSender (rank 0, GPU 0) to one WeightReceiver (rank 1) in this JVM, against what it cannot beat:
 * {@code zeroCopyInPlace} (sender {@code sources(DevicePlanStorage)}, receiver {@code allocateStorage()} in place:
 * no pack, no scatter), {@code zeroCopyFlip} (the same, STAGED: the receiver flips between two storages),
 * {@code packScatter} (tensor maps: one cudaMemcpyBatchAsync per bucket on each side), {@code broadcastAlone} (the
 * same buckets from storage to storage over a 2-rank communicator of this JVM, one ncclBroadcast per bucket and rank,
 * no control plane: the floor of any sync; target: {@code zeroCopyInPlace} within 10 % of it) and
 * {@code deviceToDeviceCopy} (one cudaMemcpyAsync of the same bytes, sender storage to receiver storage).
 *
 * <p>The receiver runs on GPU 1 where there are two, else on GPU 0 beside the sender: two ranks on one GPU need
 * NCCL >= 2.30 and {@code NCCL_MULTI_RANK_GPU_ENABLE=1}, which setUp sets for this process (unless already set)
 * before the first communicator. Without a GPU, or on one GPU with an older NCCL, setUp fails at once, saying why.
 * Each trial checks its method's result once (the first 4 KiB of every bucket), before timing.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class GpuZeroCopySyncBenchmark {
    private static final Duration DEADLINE = Duration.ofMinutes(2);
    private static final long CHECKED_BYTES = 4096;
    private static final String MULTI_RANK_GPU = "NCCL_MULTI_RANK_GPU_ENABLE";

    @Param("qwen3-30b-a3b")
    public String inventory;

    @Param("4096")
    public int modelMiB;

    @Param("256")
    public int bucketMiB;

    private BucketPlan plan;
    private int receiverDevice;
    private DevicePlanStorage senderStorage;
    private DevicePlanStorage receiverStorage;
    private SyncPair pair;
    private NcclCommunicator[] communicators;
    private CudaStream[] streams;
    private long version;

    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        setUp(benchmark.getBenchmark().substring(benchmark.getBenchmark().lastIndexOf('.') + 1));
    }

    /** Everything {@code method} times, then one checked run of it. */
    void setUp(String method) {
        GpuModel.requireGpu(true);
        receiverDevice = receiverDevice();
        plan = BucketPlanner.plan(ModelInventories.load(inventory).scaledToFit((long) modelMiB << 20).tensors(),
                (long) bucketMiB << 20);
        Cuda.setDevice(0);
        senderStorage = DevicePlanStorage.allocate(plan);
        byte[] pattern = writePattern(senderStorage);
        switch (method) {
            case "zeroCopyInPlace", "zeroCopyFlip" -> {
                CommitMode mode = method.equals("zeroCopyInPlace") ? CommitMode.IN_PLACE : CommitMode.STAGED;
                pair = SyncPair.start(s -> s.sources(senderStorage).transport(Transport.nccl(0)),
                        r -> r.transport(Transport.nccl(receiverDevice)).commitMode(mode).allocateStorage(), DEADLINE);
            }
            case "packScatter" -> {
                receiverStorage = allocateOnReceiver();
                pair = SyncPair.start(s -> s.plan(plan).deviceSources(senderStorage.tensorMemory())
                        .transport(Transport.nccl(0)), r -> r.transport(Transport.nccl(receiverDevice))
                        .commitMode(CommitMode.IN_PLACE).scatterIntoDevice(receiverStorage.tensorMemory()), DEADLINE);
            }
            case "broadcastAlone" -> {
                receiverStorage = allocateOnReceiver();
                formCommunicators();
            }
            case "deviceToDeviceCopy" -> {
                receiverStorage = allocateOnReceiver();
                Cuda.setDevice(0);
                streams = new CudaStream[] {CudaStream.create()};
            }
            default -> throw new IllegalArgumentException("no such benchmark method: " + method);
        }
        run(method);
        checkPattern(method, pattern);
    }

    /** The receiver's GPU: 1 where there are two; else 0, once two ranks on one GPU are possible and enabled. */
    private static int receiverDevice() {
        if (Cuda.deviceCount() >= 2) {
            return 1;
        }
        NcclVersion version = Nccl.version();
        if (!version.isAtLeast(2, 30, 0)) {
            throw new IllegalStateException("GPU benchmark skipped: one GPU, and two NCCL ranks on one GPU need NCCL "
                    + ">= 2.30 (" + MULTI_RANK_GPU + "); this NCCL is " + version);
        }
        setEnvUnlessSet(MULTI_RANK_GPU, "1");
        return 0;
    }

    /** setenv(name, value, 0) in this process, so that NCCL, which reads its variables from C, sees it. */
    private static void setEnvUnlessSet(String name, String value) {
        Linker linker = Linker.nativeLinker();
        MethodHandle setenv = linker.downcallHandle(linker.defaultLookup().find("setenv").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT));
        try (Arena arena = Arena.ofConfined()) {
            if ((int) setenv.invokeExact(arena.allocateFrom(name), arena.allocateFrom(value), 0) != 0) {
                throw new IllegalStateException("setenv(" + name + ") failed");
            }
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("setenv(" + name + ")", t);
        }
    }

    private DevicePlanStorage allocateOnReceiver() {
        Cuda.setDevice(receiverDevice);
        return DevicePlanStorage.allocate(plan);
    }

    /** The 2-rank communicator of broadcastAlone: both ranks begun on their devices, then awaited. */
    private void formCommunicators() {
        NcclUniqueId id = NcclUniqueId.generate();
        communicators = new NcclCommunicator[2];
        streams = new CudaStream[2];
        int[] devices = {0, receiverDevice};
        for (int rank = 0; rank < 2; rank++) {
            Cuda.setDevice(devices[rank]);
            communicators[rank] = NcclCommunicator.begin(id, 2, rank);
            streams[rank] = CudaStream.create();
        }
        for (NcclCommunicator communicator : communicators) {
            communicator.awaitReady(DEADLINE);
        }
    }

    /** Writes a pattern over the first bytes of every bucket of {@code storage}; returns it. */
    private byte[] writePattern(DevicePlanStorage storage) {
        byte[] pattern = new byte[(int) CHECKED_BYTES];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = (byte) (i * 31 + 7);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment host = arena.allocateFrom(JAVA_BYTE, pattern);
            for (int k = 0; k < plan.bucketCount(); k++) {
                Cuda.memcpy(storage.bucket(k).address(), host.address(), Math.min(CHECKED_BYTES, plan.bucketByteSize(k)));
            }
        }
        return pattern;
    }

    /** Fails unless the receiver's storage holds {@code pattern} at the start of every bucket. */
    private void checkPattern(String method, byte[] pattern) {
        switch (method) {
            case "zeroCopyInPlace" -> checkPattern(method, pattern, pair.receiver.storage(DevicePlanStorage.class));
            case "zeroCopyFlip" -> {
                try (StagedWeights.Lease<DevicePlanStorage> lease = pair.receiver
                        .stagedWeights(DevicePlanStorage.class).acquire()) {
                    checkPattern(method, pattern, lease.storage());
                }
            }
            default -> checkPattern(method, pattern, receiverStorage);
        }
    }

    private void checkPattern(String method, byte[] pattern, DevicePlanStorage storage) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment back = arena.allocate(CHECKED_BYTES);
            MemorySegment expected = arena.allocateFrom(JAVA_BYTE, pattern);
            for (int k = 0; k < plan.bucketCount(); k++) {
                long bytes = Math.min(CHECKED_BYTES, plan.bucketByteSize(k));
                Cuda.memcpy(back.address(), storage.bucket(k).address(), bytes);
                if (MemorySegment.mismatch(back, 0, bytes, expected, 0, bytes) != -1) {
                    throw new IllegalStateException(method + ": bucket " + k + " did not arrive intact");
                }
            }
        }
    }

    private void run(String method) {
        switch (method) {
            case "broadcastAlone" -> broadcastAlone();
            case "deviceToDeviceCopy" -> deviceToDeviceCopy();
            default -> pair.update(++version);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        Closeables.closeAll(pair);
        Closeables.closeAll(communicators);
        Closeables.closeAll(streams);
        Closeables.closeAll(receiverStorage, senderStorage);
    }

    @Benchmark
    public UpdateReport zeroCopyInPlace() {
        return pair.update(++version);
    }

    @Benchmark
    public UpdateReport zeroCopyFlip() {
        return pair.update(++version);
    }

    @Benchmark
    public UpdateReport packScatter() {
        return pair.update(++version);
    }

    /** One ncclBroadcast per bucket and rank (rank 0's and rank 1's in one group, as one thread drives both). */
    @Benchmark
    public void broadcastAlone() {
        int[] devices = {0, receiverDevice};
        DevicePlanStorage[] storages = {senderStorage, receiverStorage};
        for (int k = 0; k < plan.bucketCount(); k++) {
            int bucket = k;
            Nccl.group(() -> {
                for (int rank = 0; rank < 2; rank++) {
                    Cuda.setDevice(devices[rank]);
                    DeviceMemory memory = storages[rank].bucket(bucket);
                    communicators[rank].broadcast(memory, memory, memory.byteSize(), NcclDataType.UINT8, 0,
                            streams[rank]);
                }
            });
        }
        for (int rank = 0; rank < 2; rank++) {
            communicators[rank].await(streams[rank], DEADLINE);
        }
    }

    /** One cudaMemcpyAsync over every bucket (the storages' one segment each), then a wait. */
    @Benchmark
    public void deviceToDeviceCopy() {
        int last = plan.bucketCount() - 1;
        long first = senderStorage.bucket(0).address();
        long bytes = senderStorage.bucket(last).address() + plan.bucketByteSize(last) - first;
        Cuda.memcpyAsync(receiverStorage.bucket(0).address(), first, bytes, streams[0]);
        streams[0].synchronize();
    }
}
