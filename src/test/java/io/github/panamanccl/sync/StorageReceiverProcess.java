package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.testing.FakeNative;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * A receiver rank over {@code Transport.nccl(device)} in its own JVM, on the fake CUDA runtime and fake NCCL, for
 * {@link NcclZeroCopyMultiProcessSyncTest}: the storage modes or, to compare, the scatter modes. One line per update
 * on stdout (key=value fields, "message" last): COMMITTED or FAILED, with the copies the fakes counted in this
 * process during the update ({@code batches} cudaMemcpyBatchAsync, {@code asyncCopies} cudaMemcpyAsync,
 * {@code syncCopies} cudaMemcpy) and its ncclBroadcast calls, then what the weights hold, copied back to the host
 * after the counting.
 *
 * <p>Arguments: port, name, device (this rank's fake GPU; the process sees {@code devices} of them), mode
 * ({@code in-place} / {@code flip}: {@code allocateStorage()} with IN_PLACE / STAGED; {@code scatter-in-place} /
 * {@code scatter-staged}: {@code scatterIntoDevice}), and {@code failAt=v:k,...}: the update to version v fails on
 * this rank at bucket k, a local CUDA error (cudaErrorIllegalAddress) of the cudaEventRecord that follows bucket
 * k's broadcast: a storage pipeline records one event before its first broadcast and one after each.
 *
 * <p>Flip mode also reports {@code held}: a lease of the committed version taken before the update and checked
 * after it ended, successful or not ({@code v:ok}, {@code v:MISMATCH}, or {@code none} before the first commit),
 * and {@code intact}: whether a fresh lease reads the committed version whole.
 */
public final class StorageReceiverProcess {
    private static final int ILLEGAL_ADDRESS = 700;

    private StorageReceiverProcess() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = ReceiverProcess.arguments(argv);
        FakeNative.cudartSetDeviceCount(Integer.parseInt(args.getOrDefault("devices", "3")));
        int device = Integer.parseInt(args.get("device"));
        Cuda.setDevice(device);
        String mode = args.get("mode");
        Set<String> failAt = Arrays.stream(args.getOrDefault("failAt", "").split(",")).filter(s -> !s.isEmpty())
                .collect(Collectors.toSet());
        BucketPlan expected = SyncFixtures.plan(1);
        Arena arena = Arena.ofShared();
        Map<String, MemorySegment> host = SyncFixtures.allocate(expected, arena);
        Map<String, DeviceMemory> tensors = DeviceRoundTrip.deviceTensors(expected, host, new ArrayList<>());
        WeightReceiver.Builder builder = WeightReceiver.builder()
                .sender("127.0.0.1", Integer.parseInt(args.get("port")))
                .token(SyncFixtures.TOKEN)
                .name(args.getOrDefault("name", "storage-child"))
                .transport(Transport.nccl(device))
                .ioTimeout(Duration.ofSeconds(5));
        builder = switch (mode) {
            case "in-place" -> builder.commitMode(CommitMode.IN_PLACE).allocateStorage();
            case "flip" -> builder.commitMode(CommitMode.STAGED).allocateStorage();
            case "scatter-in-place" -> builder.commitMode(CommitMode.IN_PLACE).scatterIntoDevice(tensors);
            case "scatter-staged" -> builder.commitMode(CommitMode.STAGED).scatterIntoDevice(tensors);
            default -> throw new IllegalArgumentException("mode " + mode);
        };
        WeightReceiver receiver = builder.join(Duration.ofSeconds(20));
        BucketPlan plan = receiver.plan();
        ReceiverProcess.say("JOINED plan=" + plan.fingerprint());
        Weights weights = switch (mode) {
            case "in-place" -> new InPlace(receiver.storage(DevicePlanStorage.class));
            case "flip" -> new Flip(receiver.stagedWeights(DevicePlanStorage.class));
            default -> new Scattered(tensors, host);
        };
        long lastEnded = 0; // the tests publish consecutive versions from 1
        while (true) {
            long next = lastEnded + 1;
            for (int k = 0; k < plan.bucketCount(); k++) {
                if (failAt.contains(next + ":" + k)) {
                    FakeNative.cudartFailNth("cudaEventRecord", k + 2, ILLEGAL_ADDRESS);
                }
            }
            StagedWeights.Lease<DevicePlanStorage> held = weights.hold();
            long[] before = counts();
            try {
                Optional<UpdateReport> report = receiver.awaitUpdate(Duration.ofSeconds(60));
                if (report.isEmpty()) {
                    if (held != null) {
                        held.close();
                    }
                    continue;
                }
                String counted = counted(before);
                long v = report.get().version();
                lastEnded = v;
                ReceiverProcess.say("COMMITTED version=" + v + " mismatch=" + weights.mismatch(v) + " digest="
                        + weights.digest() + " calls=" + report.get().collectiveCalls() + " rank="
                        + report.get().rank() + counted + checked(held, plan));
            } catch (UpdateFailedException e) {
                String counted = counted(before);
                FakeNative.cudartFailNth("cudaEventRecord", 0, 0); // a failure armed for a bucket never reached
                lastEnded = e.version();
                ReceiverState state = receiver.state();
                String intact = state instanceof ReceiverState.Committed c ? String.valueOf(weights.mismatch(c.version())
                        == null) : "n/a";
                ReceiverProcess.say("FAILED version=" + e.version() + " reason=" + e.reason() + " phase=" + e.phase()
                        + " failedRank=" + e.failedRank() + " state=" + state.getClass().getSimpleName() + " committed="
                        + (state instanceof ReceiverState.Committed c ? c.version() : -1) + " intact=" + intact
                        + counted + checked(held, plan) + " message=" + e.getMessage());
            } catch (ConnectionLostException e) {
                ReceiverProcess.say("LOST message=" + e.getMessage());
                System.exit(3);
            }
        }
    }

    private static final List<String> COUNTED = List.of("cudaMemcpyBatchAsync", "cudaMemcpyAsync", "cudaMemcpy");

    private static long[] counts() {
        long[] counts = new long[COUNTED.size() + 1];
        for (int i = 0; i < COUNTED.size(); i++) {
            counts[i] = FakeNative.cudartCallCount(COUNTED.get(i));
        }
        counts[COUNTED.size()] = FakeNative.ncclCallCount("ncclBroadcast");
        return counts;
    }

    /** The copies and broadcasts since {@code before}, as fields. */
    private static String counted(long[] before) {
        long[] now = counts();
        return " batches=" + (now[0] - before[0]) + " asyncCopies=" + (now[1] - before[1]) + " syncCopies="
                + (now[2] - before[2]) + " broadcasts=" + (now[3] - before[3]);
    }

    /** The held lease's version checked whole, then released. */
    private static String checked(StagedWeights.Lease<DevicePlanStorage> held, BucketPlan plan) {
        if (held == null) {
            return " held=none";
        }
        try (held) {
            return " held=" + held.version() + ":" + (mismatch(held.storage(), plan, held.version()) == null ? "ok"
                    : "MISMATCH");
        }
    }

    private static String mismatch(DevicePlanStorage storage, BucketPlan plan, long version) {
        try (HostPlanStorage copy = HostPlanStorage.allocate(plan)) {
            DeviceStorageCopies.download(storage, copy);
            return SyncFixtures.firstMismatch(plan, copy.tensorSegments(), version);
        }
    }

    private static long digest(DevicePlanStorage storage, BucketPlan plan) {
        try (HostPlanStorage copy = HostPlanStorage.allocate(plan)) {
            DeviceStorageCopies.download(storage, copy);
            return SyncFixtures.digest(plan, copy.tensorSegments());
        }
    }

    /** What this rank's weights hold, however it receives them. */
    private interface Weights {
        /** A lease of the committed version held across the next update (flip only), or null. */
        default StagedWeights.Lease<DevicePlanStorage> hold() {
            return null;
        }

        String mismatch(long version);

        long digest();
    }

    private record InPlace(DevicePlanStorage storage) implements Weights {
        @Override
        public String mismatch(long version) {
            return StorageReceiverProcess.mismatch(storage, storage.plan(), version);
        }

        @Override
        public long digest() {
            return StorageReceiverProcess.digest(storage, storage.plan());
        }
    }

    private record Flip(StagedWeights<DevicePlanStorage> weights) implements Weights {
        @Override
        public StagedWeights.Lease<DevicePlanStorage> hold() {
            return weights.version().isPresent() ? weights.acquire() : null;
        }

        @Override
        public String mismatch(long version) {
            try (StagedWeights.Lease<DevicePlanStorage> lease = weights.acquire()) {
                return lease.version() != version ? "version " + lease.version()
                        : StorageReceiverProcess.mismatch(lease.storage(), weights.plan(), version);
            }
        }

        @Override
        public long digest() {
            try (StagedWeights.Lease<DevicePlanStorage> lease = weights.acquire()) {
                return StorageReceiverProcess.digest(lease.storage(), weights.plan());
            }
        }
    }

    private record Scattered(Map<String, DeviceMemory> tensors, Map<String, MemorySegment> host) implements Weights {
        @Override
        public String mismatch(long version) {
            DeviceRoundTrip.copyToHost(tensors, host);
            return SyncFixtures.firstMismatch(SyncFixtures.plan(1), host, version);
        }

        @Override
        public long digest() {
            DeviceRoundTrip.copyToHost(tensors, host);
            return SyncFixtures.digest(SyncFixtures.plan(1), host);
        }
    }
}
