package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.testing.FakeNative;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A receiver rank over {@code Transport.nccl(device)} in its own JVM, for {@link NcclMultiProcessSyncTest} and
 * {@link TwoRanksOneGpuSyncTests}: on the fake CUDA runtime and fake NCCL, or on the real ones (a GPU machine).
 * Device tensors receive the updates; each is copied back to the host and checked against the fixture pattern. One
 * line per event on stdout: JOINED, COMMITTED, FAILED, STUCK, PAUSED, COMMS, LOST (key=value fields, "message"
 * last); over the fakes, COMMITTED and FAILED carry the fakes' counts of this process and COMMS reports its live
 * communicators.
 *
 * <p>Arguments: port, name, device (the GPU this rank uses; over the fakes the process sees {@code devices} of
 * them), scale (of the fixture plan, default 1), commit (staged|in-place), and one fault at most, each at
 * version:bucket (after that bucket arrived): pause (the receive thread blocks forever: a rank that stops polling),
 * and over the fakes only stallAt (the fake NCCL stops reading the next bucket half way: a rank stuck inside a
 * broadcast; reported as STUCK) and cudaErrorAt (the next cudaStreamQuery of this process fails with
 * cudaErrorIllegalAddress: a local CUDA error).
 */
public final class NcclReceiverProcess {
    /** The system properties naming the libraries (and the fakes' directory) a child JVM must inherit. */
    static final String[] LIBRARY_PROPERTIES = {"panamanccl.test.native.dir", "panamanccl.nccl.path",
        "panamanccl.cudart.path"};
    private static final int ILLEGAL_ADDRESS = 700;

    private NcclReceiverProcess() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = ReceiverProcess.arguments(argv);
        boolean fakes = FakeNative.cudartIsFake();
        if (fakes) {
            FakeNative.cudartSetDeviceCount(Integer.parseInt(args.getOrDefault("devices", "3")));
        }
        int device = Integer.parseInt(args.get("device"));
        Cuda.setDevice(device);
        CommitMode commit = args.getOrDefault("commit", "staged").equals("staged") ? CommitMode.STAGED
                : CommitMode.IN_PLACE;
        BucketPlan expected = SyncFixtures.plan(Integer.parseInt(args.getOrDefault("scale", "1")));
        Arena arena = Arena.ofShared();
        Map<String, MemorySegment> host = SyncFixtures.allocate(expected, arena);
        List<AutoCloseable> keep = new ArrayList<>();
        Map<String, DeviceMemory> tensors = DeviceRoundTrip.deviceTensors(expected, host, keep);
        if (fakes) {
            Thread.ofPlatform().daemon().name("fake-nccl-monitor").start(NcclReceiverProcess::monitor);
        }

        String stallAt = args.getOrDefault("stallAt", "");
        String pause = args.getOrDefault("pause", "");
        String cudaErrorAt = args.getOrDefault("cudaErrorAt", "");
        long start = System.nanoTime();
        WeightReceiver receiver = WeightReceiver.builder()
                .sender("127.0.0.1", Integer.parseInt(args.get("port")))
                .token(SyncFixtures.TOKEN)
                .name(args.getOrDefault("name", "nccl-child"))
                .commitMode(commit)
                .transport(Transport.nccl(device))
                .scatterIntoDevice(tensors)
                .ioTimeout(Duration.ofSeconds(5))
                .listener(new SyncListener() {
                    @Override
                    public void onBucket(BucketProgress p) {
                        String at = p.version() + ":" + p.bucket();
                        if (at.equals(stallAt)) {
                            FakeNative.ncclPauseReceivingAfter(expected.bucketByteSize(p.bucket() + 1) / 2);
                        }
                        if (at.equals(cudaErrorAt)) {
                            FakeNative.cudartFailNext("cudaStreamQuery", ILLEGAL_ADDRESS);
                        }
                        if (at.equals(pause)) {
                            ReceiverProcess.say("PAUSED version=" + p.version() + " bucket=" + p.bucket());
                            hangForever();
                        }
                    }
                })
                .join(Duration.ofSeconds(20));
        BucketPlan plan = receiver.plan();
        ReceiverProcess.say("JOINED joinMillis=" + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)
                + " plan=" + plan.fingerprint());
        while (true) {
            try {
                Optional<UpdateReport> report = receiver.awaitUpdate(Duration.ofSeconds(60));
                if (report.isEmpty()) {
                    continue;
                }
                long v = report.get().version();
                DeviceRoundTrip.copyToHost(tensors, host);
                ReceiverProcess.say("COMMITTED version=" + v + " mismatch=" + SyncFixtures.firstMismatch(plan, host, v)
                        + " digest=" + SyncFixtures.digest(plan, host) + " calls=" + report.get().collectiveCalls()
                        + " rank=" + report.get().rank() + counters(fakes));
            } catch (UpdateFailedException e) {
                ReceiverState state = receiver.state();
                DeviceRoundTrip.copyToHost(tensors, host);
                String intact = state instanceof ReceiverState.Committed c
                        ? String.valueOf(SyncFixtures.firstMismatch(plan, host, c.version()) == null) : "n/a";
                ReceiverProcess.say("FAILED version=" + e.version() + " reason=" + e.reason() + " phase=" + e.phase()
                        + " failedRank=" + e.failedRank() + " state=" + state.getClass().getSimpleName()
                        + " intact=" + intact + counters(fakes) + " message=" + e.getMessage());
            } catch (ConnectionLostException e) {
                ReceiverProcess.say("LOST message=" + e.getMessage());
                System.exit(3);
            }
        }
    }

    /** What the fakes counted in this process so far: ncclBroadcast calls and broadcast payload bytes received. */
    private static String counters(boolean fakes) {
        if (!fakes) {
            return "";
        }
        return " broadcasts=" + FakeNative.ncclCallCount("ncclBroadcast") + " received="
                + FakeNative.ncclPayloadBytesReceived();
    }

    /** Reports when a paused receive stopped (STUCK) and every change of this process's live communicators. */
    private static void monitor() {
        boolean stuck = false;
        String comms = "";
        while (true) {
            if (!stuck && FakeNative.ncclReceivingPaused()) {
                stuck = true;
                ReceiverProcess.say("STUCK received=" + FakeNative.ncclPayloadBytesReceived());
            }
            String now = "COMMS live=" + FakeNative.ncclLiveComms() + " aborts=" + FakeNative.ncclCallCount("ncclCommAbort")
                    + " inits=" + FakeNative.ncclCallCount("ncclCommInitRankConfig");
            if (!now.equals(comms)) {
                comms = now;
                ReceiverProcess.say(now);
            }
            sleep(5);
        }
    }

    private static void hangForever() {
        while (true) {
            sleep(60_000); // this process plays a rank that stopped polling
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
