package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NCCL transport with real ranks: the sender (rank 0, fake GPU 0) in this JVM and two receivers, each a JVM of
 * its own ({@link NcclReceiverProcess}) on fake GPU 1 or 2, one communicator of nranks 3 over the fake NCCL, whose
 * broadcasts move every bucket between the processes. Process output is kept under target/sync-processes/, the
 * measurements in target/sync-processes/measurements.txt.
 */
@Tag("fake-cuda")
@Timeout(120)
class NcclMultiProcessSyncTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int DEVICES = 3;
    /** Lateness allowed past a deadline on a busy 2-core machine: detection, the abort notice, scheduling. */
    private static final long SLACK_MILLIS = 1500;

    private final List<ChildJvm> children = new ArrayList<>();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final Arena arena = Arena.ofShared();
    private final BucketPlan plan = SyncFixtures.plan(1);
    private final Map<String, MemorySegment> hostSources = SyncFixtures.allocate(plan, arena);
    private Map<String, DeviceMemory> deviceSources;

    @BeforeEach
    void fakes() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        FakeNative.cudartSetDeviceCount(DEVICES);
        Cuda.setDevice(0);
        deviceSources = DeviceRoundTrip.deviceTensors(plan, hostSources, toClose);
        assertTrue(plan.bucketCount() >= 3, "several buckets: " + plan.bucketCount());
    }

    @AfterEach
    void stopEverything() throws Exception {
        for (ChildJvm child : children) {
            child.close();
        }
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        pool.shutdownNow();
        arena.close();
        FakeNative.cudartReset();
        FakeNative.ncclReset();
    }

    @Test
    void versions_reach_two_receiver_processes_byte_exact_with_one_broadcast_per_bucket_on_every_rank()
            throws Exception {
        WeightSender sender = startSender();
        ChildJvm staged = receiver("nccl-staged", sender, 1, "commit=staged");
        ChildJvm inPlace = receiver("nccl-inplace", sender, 2, "commit=in-place");
        staged.await("JOINED", WAIT);
        inPlace.await("JOINED", WAIT);
        long[] stagedCounts = {0, 0};
        long[] inPlaceCounts = {0, 0};
        List<String> perUpdate = new ArrayList<>();
        for (long version = 1; version <= 3; version++) {
            long broadcastsBefore = FakeNative.ncclCallCount("ncclBroadcast");
            long sentBefore = FakeNative.ncclPayloadBytesSent();
            UpdateReport report = publish(sender, version, Duration.ofSeconds(20));
            long senderBroadcasts = FakeNative.ncclCallCount("ncclBroadcast") - broadcastsBefore;
            assertEquals(List.of(1, 2), report.acknowledgedRanks());
            assertEquals("nccl", report.transport());
            assertEquals(plan.bucketCount(), report.collectiveCalls());
            assertEquals(plan.bucketCount(), senderBroadcasts, "rank 0: one ncclBroadcast per bucket");
            assertEquals(2 * plan.totalBucketBytes(), FakeNative.ncclPayloadBytesSent() - sentBefore,
                    "rank 0 sent every bucket to both receivers");
            long digest = SyncFixtures.digest(plan, hostSources);
            long stagedBroadcasts = assertExact(committed(staged, version), version, digest, stagedCounts);
            long inPlaceBroadcasts = assertExact(committed(inPlace, version), version, digest, inPlaceCounts);
            perUpdate.add("v" + version + ": rank 0 " + senderBroadcasts + ", staged " + stagedBroadcasts
                    + ", in-place " + inPlaceBroadcasts);
        }
        assertEquals(1, FakeNative.ncclCallCount("ncclCommInitRankConfig"), "one communicator for all versions");
        Measurements.report("nccl versions", plan.bucketCount() + " buckets of up to " + plan.bucketCapBytes()
                + " B; ncclBroadcast calls per update per rank: " + String.join("; ", perUpdate));
    }

    @Test
    void a_receiver_killed_in_the_middle_of_a_broadcast_fails_every_survivor_at_once_and_a_replacement_joins()
            throws Exception {
        Duration deadline = Duration.ofSeconds(5);
        WeightSender sender = startSender();
        ChildJvm survivor = receiver("nccl-kill-survivor", sender, 1, "commit=staged");
        survivor.await("JOINED", WAIT);
        ChildJvm victim = receiver("nccl-kill-victim", sender, 2, "commit=in-place", "stallAt=2:0");
        victim.await("JOINED", WAIT);
        publish(sender, 1, deadline);
        long digest1 = SyncFixtures.digest(plan, hostSources);
        assertExact(committed(survivor, 1), 1, digest1, new long[2]);
        String victimRank = committed(victim, 1).fields().get("rank");

        fill(2);
        Future<UpdateReport> update = pool.submit(() -> sender.publish(2, deadline));
        long stuckBytes = Long.parseLong(victim.await("STUCK", WAIT).fields().get("received"));
        assertEquals(plan.totalBucketBytes() + plan.bucketByteSize(0) + plan.bucketByteSize(1) / 2, stuckBytes,
                "the victim stopped half way through bucket 1 of version 2");
        long killed = System.nanoTime();
        victim.kill(); // SIGKILL while its broadcast is half received
        UpdateFailedException atSender = failure(update, deadline.plusMillis(SLACK_MILLIS));
        long senderFailed = System.nanoTime();
        ChildJvm.Line atSurvivor = survivor.await("FAILED version=2", WAIT);

        SyncFixtures.assertFailure(FailureReason.PEER_LOST, atSender);
        assertEquals(victimRank, String.valueOf(atSender.failedRank()), atSender.getMessage());
        Map<String, String> f = atSurvivor.fields();
        assertEquals("PEER_LOST", f.get("reason"), atSurvivor.text());
        assertEquals(victimRank, f.get("failedRank"), atSurvivor.text());
        assertEquals("Committed", f.get("state"), atSurvivor.text());
        assertEquals("true", f.get("intact"), "staged: the survivor still holds version 1 intact");
        for (long failedAt : new long[] {senderFailed, atSurvivor.nanos()}) {
            assertTrue(failedAt - killed < deadline.toNanos(), "failed " + ms(failedAt - killed)
                    + " ms after the kill; deadline " + deadline.toMillis() + " ms");
        }
        assertEquals(0, FakeNative.ncclLiveComms(), "rank 0 aborted its communicator");
        assertTrue(FakeNative.ncclCallCount("ncclCommAbort") >= 1);
        awaitAborted(survivor); // and so did the survivor

        long launched = System.nanoTime();
        ChildJvm replacement = receiver("nccl-kill-replacement", sender, 2, "commit=in-place");
        ChildJvm.Line joined = replacement.await("JOINED", WAIT);
        long broadcastsBefore = FakeNative.ncclCallCount("ncclBroadcast");
        UpdateReport third = publish(sender, 3, Duration.ofSeconds(20));
        assertEquals(List.of(1, 2), third.acknowledgedRanks());
        assertEquals(plan.bucketCount(), FakeNative.ncclCallCount("ncclBroadcast") - broadcastsBefore);
        long digest3 = SyncFixtures.digest(plan, hostSources);
        assertExact(committed(survivor, 3), 3, digest3, null);
        assertExact(committed(replacement, 3), 3, digest3, new long[2]);
        assertEquals(2, FakeNative.ncclCallCount("ncclCommInitRankConfig"), "a new communicator with the replacement");
        Measurements.report("nccl kill", "deadline " + deadline.toMillis() + " ms; kill during bucket 1 of version 2 (victim had "
                + stuckBytes + " payload bytes); rank 0 failed " + ms(senderFailed - killed) + " ms after the kill, "
                + "the surviving receiver " + ms(atSurvivor.nanos() - killed) + " ms after; replacement JOINED "
                + ms(joined.nanos() - launched) + " ms after its JVM was launched (join() itself "
                + joined.fields().get("joinMillis") + " ms); version 3 byte-exact on both receivers");
    }

    @Test
    void a_rank_that_stops_polling_fails_everyone_at_the_deadline() throws Exception {
        Duration deadline = Duration.ofSeconds(3);
        WeightSender sender = startSender();
        ChildJvm healthy = receiver("nccl-hung-healthy", sender, 1, "commit=staged");
        ChildJvm hung = receiver("nccl-hung-victim", sender, 2, "commit=in-place", "pause=1:1");
        healthy.await("JOINED", WAIT);
        hung.await("JOINED", WAIT);
        fill(1);
        long start = System.nanoTime();
        UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.DEADLINE,
                () -> sender.publish(1, deadline));
        long senderFailed = System.nanoTime();
        hung.await("PAUSED version=1 bucket=1", WAIT);
        ChildJvm.Line atHealthy = healthy.await("FAILED version=1", WAIT);
        assertEquals("DEADLINE", atHealthy.fields().get("reason"), atHealthy.text());
        assertEquals("Empty", atHealthy.fields().get("state"), atHealthy.text());
        long limit = deadline.toNanos() + TimeUnit.MILLISECONDS.toNanos(SLACK_MILLIS);
        assertTrue(senderFailed - start >= deadline.toNanos(), "rank 0 gave up before its deadline: " + atSender);
        assertTrue(senderFailed - start <= limit, "rank 0 failed after " + ms(senderFailed - start) + " ms");
        assertTrue(atHealthy.nanos() - start <= limit, "the healthy receiver failed after "
                + ms(atHealthy.nanos() - start) + " ms");
        assertEquals(0, FakeNative.ncclLiveComms(), "rank 0 aborted its communicator");
        awaitAborted(healthy);
        awaitAborted(hung); // its control plane aborted it while its receive thread hangs
        Measurements.report("nccl hung", "deadline " + deadline.toMillis() + " ms; rank 0 failed at " + ms(senderFailed - start)
                + " ms, the healthy receiver at " + ms(atHealthy.nanos() - start) + " ms");
    }

    @Test
    void a_cuda_error_on_one_receiver_is_its_local_failure_and_every_other_rank_names_it() throws Exception {
        Duration deadline = Duration.ofSeconds(10);
        WeightSender sender = startSender();
        ChildJvm failing = receiver("nccl-cuda-failing", sender, 1, "commit=staged", "cudaErrorAt=1:0");
        failing.await("JOINED", WAIT);
        ChildJvm other = receiver("nccl-cuda-other", sender, 2, "commit=in-place");
        other.await("JOINED", WAIT);
        fill(1);
        UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.LOCAL_ERROR,
                () -> sender.publish(1, deadline));
        ChildJvm.Line own = failing.await("FAILED version=1", WAIT);
        ChildJvm.Line elsewhere = other.await("FAILED version=1", WAIT);
        assertEquals("LOCAL_ERROR", own.fields().get("reason"), own.text());
        assertEquals("1", own.fields().get("failedRank"), own.text());
        assertTrue(own.fields().get("message").contains("cudaStreamQuery"), own.text());
        assertEquals("LOCAL_ERROR", elsewhere.fields().get("reason"), elsewhere.text());
        assertEquals("1", elsewhere.fields().get("failedRank"), elsewhere.text());
        assertEquals(1, atSender.failedRank(), atSender.getMessage());
        assertEquals(0, FakeNative.ncclLiveComms());
        awaitAborted(failing);
        awaitAborted(other);

        // The CUDA error was transient: the next version forms a new communicator and arrives everywhere.
        publish(sender, 2, Duration.ofSeconds(20));
        long digest = SyncFixtures.digest(plan, hostSources);
        assertExact(committed(failing, 2), 2, digest, null);
        assertExact(committed(other, 2), 2, digest, null);
    }

    // ---- helpers ----

    private WeightSender startSender() {
        WeightSender sender = WeightSender.builder().plan(plan).deviceSources(deviceSources).receivers(2)
                .token(SyncFixtures.TOKEN).transport(Transport.nccl(0)).ioTimeout(Duration.ofSeconds(5)).start();
        toClose.add(sender);
        return sender;
    }

    /** A receiver JVM on fake GPU {@code device}, on the fakes this JVM uses. */
    private ChildJvm receiver(String name, WeightSender sender, int device, String... args) throws IOException {
        List<String> jvm = ChildJvm.propertiesOf(NcclReceiverProcess.LIBRARY_PROPERTIES);
        List<String> all = new ArrayList<>(List.of("port=" + sender.port(), "name=" + name, "device=" + device,
                "devices=" + DEVICES));
        all.addAll(List.of(args));
        ChildJvm child = ChildJvm.start(name, jvm, NcclReceiverProcess.class, all);
        children.add(child);
        return child;
    }

    /** Fills the sender's device tensors with the pattern of {@code version}. */
    private void fill(long version) {
        SyncFixtures.fill(plan, hostSources, version);
        DeviceRoundTrip.copyToDevice(hostSources, deviceSources);
    }

    private UpdateReport publish(WeightSender sender, long version, Duration deadline) {
        fill(version);
        return sender.publish(version, deadline);
    }

    private static UpdateFailedException failure(Future<UpdateReport> update, Duration within) throws Exception {
        try {
            UpdateReport unexpected = update.get(within.toMillis(), TimeUnit.MILLISECONDS);
            throw new AssertionError("the update succeeded: " + unexpected);
        } catch (ExecutionException e) {
            return assertInstanceOf(UpdateFailedException.class, e.getCause());
        }
    }

    private static ChildJvm.Line committed(ChildJvm child, long version) throws InterruptedException {
        return child.await(line -> line.startsWith("COMMITTED version=" + version + " ")
                || line.startsWith("FAILED") || line.startsWith("LOST"), WAIT);
    }

    /**
     * Checks a COMMITTED line: byte-exact, one collective per bucket, and, with {@code counters} (the fake's
     * cumulative ncclBroadcast calls and payload bytes received in that process at the previous commit), one
     * ncclBroadcast per bucket and every bucket's bytes received since. Returns the broadcasts of this update.
     */
    private long assertExact(ChildJvm.Line line, long version, long digest, long[] counters) {
        Map<String, String> f = line.fields();
        assertEquals("COMMITTED", line.text().split(" ")[0], line.text());
        assertEquals(String.valueOf(version), f.get("version"), line.text());
        assertEquals("null", f.get("mismatch"), line.text());
        assertEquals(String.valueOf(digest), f.get("digest"), line.text());
        assertEquals(String.valueOf(plan.bucketCount()), f.get("calls"), line.text());
        long broadcasts = Long.parseLong(f.get("broadcasts"));
        long received = Long.parseLong(f.get("received"));
        if (counters == null) {
            return -1;
        }
        long thisUpdate = broadcasts - counters[0];
        assertEquals(plan.bucketCount(), thisUpdate, "one ncclBroadcast per bucket: " + line.text());
        assertEquals(plan.totalBucketBytes(), received - counters[1], "every bucket arrived over NCCL: " + line.text());
        counters[0] = broadcasts;
        counters[1] = received;
        return thisUpdate;
    }

    /** Waits until the child reported its communicator aborted (its monitor's line may come before or after FAILED). */
    private static void awaitAborted(ChildJvm child) throws InterruptedException {
        long giveUp = System.nanoTime() + WAIT.toNanos();
        while (child.all().stream().noneMatch(l -> l.text().startsWith("COMMS live=0 aborts=1 "))) {
            assertTrue(System.nanoTime() < giveUp, child + " never reported its communicator aborted: " + child.all());
            Thread.sleep(10);
        }
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
