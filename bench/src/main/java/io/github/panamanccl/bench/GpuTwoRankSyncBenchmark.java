package io.github.panamanccl.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.Nccl;
import io.github.panamanccl.NcclVersion;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.UpdateReport;
import io.github.panamanccl.sync.WeightSender;

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
 * One bucketed sync between two processes on ONE GPU, which NCCL allows from 2.30 on with
 * {@code NCCL_MULTI_RANK_GPU_ENABLE=1} in both processes' environment: this JVM is the sender ({@link WeightSender}
 * over {@code Transport.nccl(0)}, rank 0), a child JVM ({@link GpuSyncReceiver}) the receiver on the same GPU (rank 1,
 * in-place commit). One operation = one publish of the whole model, the receiver's acknowledgement included. The
 * same inventories, size and buckets as {@link GpuBroadcastBenchmark}, whose {@code bucketed} is the one-rank
 * figure. Without a GPU, NCCL 2.30 or the variable, setUp fails at once with the reason.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 1, time = 2)
@Measurement(iterations = 3, time = 2)
public class GpuTwoRankSyncBenchmark {
    static final String TWO_RANKS_PER_GPU = "NCCL_MULTI_RANK_GPU_ENABLE";
    private static final Duration DEADLINE = Duration.ofMinutes(2);

    @Param({"qwen3-30b-a3b", "qwen3-next-80b-a3b"})
    public String inventory;

    @Param("16384")
    public int modelMiB;

    @Param("1024")
    public int bucketMiB;

    private final List<DeviceBuffer> tensors = new ArrayList<>();
    private WeightSender sender;
    private Process receiver;
    private long version;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        GpuModel.requireGpu(true);
        requireTwoRanksPerGpu();
        Cuda.setDevice(0);
        BucketPlan plan = GpuModel.plan(inventory, (long) modelMiB << 20, (long) bucketMiB << 20);
        GpuModel.allocateTensors(plan, tensors);
        String token = UUID.randomUUID().toString();
        sender = WeightSender.builder().plan(plan).deviceSources(GpuModel.byName(plan, tensors)).receivers(1).token(token)
                .transport(Transport.nccl(0)).start();
        receiver = startReceiver(token);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        if (sender != null) {
            sender.close(); // the receiver then loses its sender and exits
        }
        if (receiver != null && !receiver.waitFor(30, TimeUnit.SECONDS)) {
            receiver.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        tensors.forEach(DeviceBuffer::close);
        tensors.clear();
    }

    @Benchmark
    public UpdateReport publish() {
        return sender.publish(++version, DEADLINE);
    }

    private static void requireTwoRanksPerGpu() {
        NcclVersion version = Nccl.version();
        if (!version.isAtLeast(2, 30, 0)) {
            throw new IllegalStateException("GPU benchmark skipped: NCCL " + version
                    + " cannot put two ranks on one GPU (NCCL_MULTI_RANK_GPU_ENABLE needs 2.30)");
        }
        if (!"1".equals(System.getenv(TWO_RANKS_PER_GPU))) {
            throw new IllegalStateException("GPU benchmark skipped: run JMH with " + TWO_RANKS_PER_GPU
                    + "=1 in its environment (bench/gpu/run.sh does) so that both ranks may share GPU 0");
        }
    }

    /** The receiver JVM on this JVM's class path and libraries; returns once it joined. */
    private Process startReceiver(String token) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "--enable-native-access=ALL-UNNAMED", "-Xmx256m"));
        for (String property : List.of("panamanccl.nccl.path", "panamanccl.cudart.path")) {
            if (System.getProperty(property) != null) {
                command.add("-D" + property + "=" + System.getProperty(property));
            }
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), GpuSyncReceiver.class.getName(),
                String.valueOf(sender.port()), token, inventory, String.valueOf(modelMiB), String.valueOf(bucketMiB)));
        Path errors = Files.createTempFile("gpu-sync-receiver", ".stderr.txt");
        Process process = new ProcessBuilder(command).redirectError(errors.toFile()).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null && !line.equals("JOINED")) {
            System.out.println("receiver: " + line);
        }
        if (line == null) {
            throw new IllegalStateException("the receiver JVM ended before it joined: " + Files.readString(errors));
        }
        Thread.ofPlatform().daemon().name("gpu-sync-receiver-output").start(() -> out.lines()
                .forEach(more -> System.out.println("receiver: " + more)));
        return process;
    }
}
