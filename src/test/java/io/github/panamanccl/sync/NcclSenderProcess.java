package io.github.panamanccl.sync;

import io.github.panamanccl.CommunicatorCounts;
import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.testing.FakeNative;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The sender rank (rank 0) over {@code Transport.nccl(device)} in its own JVM, for {@link TwoRanksOneGpuSyncTests}:
 * on the fake CUDA runtime and fake NCCL or on the real ones. It publishes when told on stdin
 * ({@code publish VERSION DEADLINE_MILLIS}: the device tensors get the fixture pattern of that version first) and
 * says on stdout: LISTENING port=..., then per publish PUBLISHED or FAILED, with the communicators this JVM holds
 * ({@code live}, {@code aborts}: {@link CommunicatorCounts}; over the fakes also {@code fakeLive}, {@code fakeAborts}:
 * the fake libnccl's own counts). It exits when stdin ends.
 *
 * <p>Arguments: device, receivers (default 1), scale (of the fixture plan, default 1).
 */
public final class NcclSenderProcess {
    private NcclSenderProcess() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = ReceiverProcess.arguments(argv);
        int device = Integer.parseInt(args.getOrDefault("device", "0"));
        Cuda.setDevice(device);
        BucketPlan plan = SyncFixtures.plan(Integer.parseInt(args.getOrDefault("scale", "1")));
        Arena arena = Arena.ofShared();
        Map<String, MemorySegment> host = SyncFixtures.allocate(plan, arena);
        List<AutoCloseable> keep = new ArrayList<>();
        Map<String, DeviceMemory> tensors = DeviceRoundTrip.deviceTensors(plan, host, keep);
        boolean fakes = FakeNative.ncclIsFake();
        try (WeightSender sender = WeightSender.builder().plan(plan).deviceSources(tensors)
                .receivers(Integer.parseInt(args.getOrDefault("receivers", "1"))).token(SyncFixtures.TOKEN)
                .transport(Transport.nccl(device)).ioTimeout(Duration.ofSeconds(5)).start();
             BufferedReader commands = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            ReceiverProcess.say("LISTENING port=" + sender.port() + " buckets=" + plan.bucketCount() + " bytes="
                    + plan.totalBucketBytes());
            String command;
            while ((command = commands.readLine()) != null) {
                String[] words = command.split(" ");
                if (words.length != 3 || !words[0].equals("publish")) {
                    ReceiverProcess.say("UNKNOWN command=" + command.replace(' ', '_'));
                    continue;
                }
                long version = Long.parseLong(words[1]);
                SyncFixtures.fill(plan, host, version);
                DeviceRoundTrip.copyToDevice(host, tensors);
                long start = System.nanoTime();
                try {
                    UpdateReport report = sender.publish(version, Duration.ofMillis(Long.parseLong(words[2])));
                    ReceiverProcess.say("PUBLISHED version=" + version + " millis=" + millis(start) + " transport="
                            + report.transport() + " calls=" + report.collectiveCalls() + " ranks="
                            + report.acknowledgedRanks().toString().replace(" ", "") + communicators(fakes));
                } catch (UpdateFailedException e) {
                    ReceiverProcess.say("FAILED version=" + version + " millis=" + millis(start) + " type="
                            + e.getClass().getSimpleName() + " reason=" + e.reason() + " phase=" + e.phase()
                            + " failedRank=" + e.failedRank() + communicators(fakes) + " message=" + e.getMessage());
                }
            }
        } finally {
            for (AutoCloseable resource : keep.reversed()) {
                resource.close();
            }
            arena.close();
        }
    }

    private static String communicators(boolean fakes) {
        String counts = " live=" + CommunicatorCounts.live() + " aborts=" + CommunicatorCounts.aborted();
        return fakes ? counts + " fakeLive=" + FakeNative.ncclLiveComms() + " fakeAborts="
                + FakeNative.ncclCallCount("ncclCommAbort") : counts;
    }

    private static long millis(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }
}
