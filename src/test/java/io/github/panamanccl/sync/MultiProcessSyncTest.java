package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sender runs in this JVM; every receiver is a separate JVM ({@link ReceiverProcess}) on loopback over the host
 * transport. Process output is kept under target/sync-processes/.
 */
@Timeout(90)
class MultiProcessSyncTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    /** Allowed lateness past a deadline: detection, the abort notice and process scheduling on a busy 2-core CI box. */
    private static final long SLACK_MILLIS = 1500;

    private final List<ChildJvm> children = new ArrayList<>();
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final Arena arena = Arena.ofShared();

    @AfterEach
    void stopEverything() throws InterruptedException {
        for (ChildJvm child : children) {
            child.close();
        }
        pool.shutdownNow();
        arena.close();
    }

    private ChildJvm receiver(String name, int port, String... args) throws IOException {
        return receiver(name, List.of(), port, args);
    }

    private ChildJvm receiver(String name, List<String> jvmOptions, int port, String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("port=" + port, "name=" + name));
        all.addAll(List.of(args));
        ChildJvm child = ChildJvm.start(name, jvmOptions, ReceiverProcess.class, all);
        children.add(child);
        return child;
    }

    private static ChildJvm.Line committed(ChildJvm child, long version) throws InterruptedException {
        return child.await(line -> line.startsWith("COMMITTED version=" + version + " ")
                || line.startsWith("FAILED") || line.startsWith("LOST"), WAIT);
    }

    private static void assertExact(ChildJvm.Line line, long version, long digest, BucketPlan plan) {
        Map<String, String> f = line.fields();
        assertEquals("COMMITTED", line.text().split(" ")[0], line.text());
        assertEquals(String.valueOf(version), f.get("version"), line.text());
        assertEquals("null", f.get("mismatch"), line.text());
        assertEquals(String.valueOf(digest), f.get("digest"), line.text());
        assertEquals(String.valueOf(plan.bucketCount()), f.get("calls"), line.text());
    }

    @Test
    void three_versions_of_a_mixed_dtype_inventory_reach_two_receiver_processes_byte_exact() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
        try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(2)
                .token(SyncFixtures.TOKEN).start()) {
            ChildJvm staged = receiver("exact-staged", sender.port(), "mode=scatter", "commit=staged");
            ChildJvm inPlace = receiver("exact-inplace", sender.port(), "mode=deliver", "commit=in-place");
            staged.await("JOINED", WAIT);
            inPlace.await("JOINED", WAIT);
            for (long version = 1; version <= 3; version++) {
                SyncFixtures.fill(plan, sources, version);
                UpdateReport report = sender.publish(version, Duration.ofSeconds(20));
                assertEquals(List.of(1, 2), report.acknowledgedRanks());
                long digest = SyncFixtures.digest(plan, sources);
                assertExact(committed(staged, version), version, digest, plan);
                assertExact(committed(inPlace, version), version, digest, plan);
            }
        }
    }

    @Test
    void killed_receiver_fails_the_others_within_the_deadline_and_the_next_update_after_rejoining_succeeds()
            throws Exception {
        // 27 MiB in 1 MiB buckets: far more than loopback socket buffers hold, so a receiver that stops reading
        // stalls the broadcast and nobody can finish the update without it.
        int scale = 8;
        BucketPlan plan = SyncFixtures.plan(scale);
        Duration deadline = Duration.ofSeconds(5);
        Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
        try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(3)
                .token(SyncFixtures.TOKEN).ioTimeout(Duration.ofSeconds(5)).start()) {
            ChildJvm staged = receiver("kill-staged", sender.port(), "scale=" + scale, "mode=scatter", "commit=staged");
            ChildJvm inPlace = receiver("kill-inplace", sender.port(), "scale=" + scale, "mode=deliver",
                    "commit=in-place");
            ChildJvm victim = receiver("kill-victim", sender.port(), "scale=" + scale, "mode=scatter",
                    "commit=in-place", "pause=2:1");
            for (ChildJvm c : List.of(staged, inPlace, victim)) {
                c.await("JOINED", WAIT);
            }
            SyncFixtures.fill(plan, sources, 1);
            sender.publish(1, deadline);
            long digest1 = SyncFixtures.digest(plan, sources);
            assertExact(committed(staged, 1), 1, digest1, plan);
            assertExact(committed(inPlace, 1), 1, digest1, plan);
            String victimRank = committed(victim, 1).fields().get("rank");

            SyncFixtures.fill(plan, sources, 2);
            long start = System.nanoTime();
            Future<UpdateReport> update = pool.submit(() -> sender.publish(2, deadline));
            victim.await("PAUSED version=2", WAIT);
            long killed = System.nanoTime();
            victim.kill();
            UpdateFailedException senderFailure = assertThrows(UpdateFailedException.class, () -> {
                try {
                    update.get(deadline.toMillis() + SLACK_MILLIS * 2, TimeUnit.MILLISECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    throw e.getCause();
                }
            });
            long senderFailed = System.nanoTime();
            SyncFixtures.assertFailure(FailureReason.PEER_LOST, senderFailure);
            assertEquals(victimRank, String.valueOf(senderFailure.failedRank()), senderFailure.getMessage());

            ChildJvm.Line stagedFailure = staged.await("FAILED version=2", WAIT);
            ChildJvm.Line inPlaceFailure = inPlace.await("FAILED version=2", WAIT);
            assertEquals("PEER_LOST", stagedFailure.fields().get("reason"), stagedFailure.text());
            assertEquals(victimRank, stagedFailure.fields().get("failedRank"), stagedFailure.text());
            assertEquals(victimRank, inPlaceFailure.fields().get("failedRank"), inPlaceFailure.text());
            assertEquals("Committed", stagedFailure.fields().get("state"), stagedFailure.text());
            assertEquals("true", stagedFailure.fields().get("intact"), "staged weights still version 1");
            assertEquals("version_1", stagedFailure.fields().get("requireCommitted"));
            assertEquals("PEER_LOST", inPlaceFailure.fields().get("reason"), inPlaceFailure.text());
            assertEquals("Torn", inPlaceFailure.fields().get("state"), inPlaceFailure.text());
            assertEquals("TornWeightsException", inPlaceFailure.fields().get("requireCommitted"));

            long limit = deadline.toNanos() + TimeUnit.MILLISECONDS.toNanos(SLACK_MILLIS);
            for (long failedAt : new long[] {senderFailed, stagedFailure.nanos(), inPlaceFailure.nanos()}) {
                assertTrue(failedAt - start <= limit, "failure " + ms(failedAt - start) + " ms after the update began, "
                        + "deadline " + deadline.toMillis() + " ms");
            }
            report("kill", deadline, start, killed, senderFailed, stagedFailure.nanos(), inPlaceFailure.nanos());

            ChildJvm rejoined = receiver("kill-rejoined", sender.port(), "scale=" + scale, "mode=scatter",
                    "commit=in-place");
            rejoined.await("JOINED", WAIT);
            SyncFixtures.fill(plan, sources, 3);
            UpdateReport third = sender.publish(3, Duration.ofSeconds(20));
            assertEquals(List.of(1, 2, 3), third.acknowledgedRanks());
            long digest3 = SyncFixtures.digest(plan, sources);
            for (ChildJvm c : List.of(staged, inPlace, rejoined)) {
                assertExact(committed(c, 3), 3, digest3, plan);
            }
        }
    }

    @Test
    void hung_receiver_fails_everyone_at_the_deadline_and_nobody_stays_blocked() throws Exception {
        int scale = 8;
        BucketPlan plan = SyncFixtures.plan(scale);
        Duration deadline = Duration.ofSeconds(2);
        Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
        try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(2)
                .token(SyncFixtures.TOKEN).ioTimeout(Duration.ofSeconds(10)).start()) {
            ChildJvm staged = receiver("hung-staged", sender.port(), "scale=" + scale, "mode=scatter", "commit=staged");
            ChildJvm hung = receiver("hung-victim", sender.port(), "scale=" + scale, "mode=deliver",
                    "commit=in-place", "pause=1:1");
            staged.await("JOINED", WAIT);
            hung.await("JOINED", WAIT);
            SyncFixtures.fill(plan, sources, 1);
            long start = System.nanoTime();
            UpdateFailedException e = SyncFixtures.assertFails(FailureReason.DEADLINE, () -> sender.publish(1, deadline));
            long senderFailed = System.nanoTime();
            ChildJvm.Line stagedFailure = staged.await("FAILED version=1", WAIT);
            assertEquals("DEADLINE", stagedFailure.fields().get("reason"), stagedFailure.text());
            assertEquals("Empty", stagedFailure.fields().get("state"), stagedFailure.text());
            long limit = deadline.toNanos() + TimeUnit.MILLISECONDS.toNanos(SLACK_MILLIS);
            assertTrue(senderFailed - start >= deadline.toNanos(), "the sender gave up before its deadline: " + e);
            assertTrue(senderFailed - start <= limit, "sender failed after " + ms(senderFailed - start) + " ms");
            assertTrue(stagedFailure.nanos() - start <= limit, "receiver failed after "
                    + ms(stagedFailure.nanos() - start) + " ms");
            report("hung", deadline, start, start, senderFailed, stagedFailure.nanos(), stagedFailure.nanos());
        }
    }

    @Test
    void wrong_token_plan_mismatch_and_oversize_frame_are_rejected_with_clear_errors() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
        List<String> rejections = new CopyOnWriteArrayList<>();
        try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1)
                .token(SyncFixtures.TOKEN).listener(SyncFixtures.recordingRejections(rejections)).start()) {
            ChildJvm wrongToken = receiver("reject-token", sender.port(), "token=not-the-token");
            String otherPlan = SyncFixtures.plan(2).fingerprint();
            ChildJvm otherPlanReceiver = receiver("reject-plan", sender.port(), "expectPlan=" + otherPlan);

            // A peer announcing a 2 GiB frame before authenticating: refused with a reason, nothing buffered.
            try (Socket raw = new Socket(InetAddress.getLoopbackAddress(), sender.port())) {
                raw.setSoTimeout(10_000);
                new DataOutputStream(raw.getOutputStream()).writeInt(Integer.MAX_VALUE);
                DataInputStream in = new DataInputStream(raw.getInputStream());
                byte[] body = new byte[in.readInt()];
                in.readFully(body);
                Wire.Reject reject = assertInstanceOf(Wire.Reject.class, Wire.decode(body));
                assertEquals(FailureReason.PROTOCOL, reject.reason());
                assertEquals("control frame of 2147483647 bytes exceeds the maximum of 8192 bytes", reject.message());
                assertThrows(EOFException.class, in::readByte);
            }

            Map<String, String> token = wrongToken.await("REJECTED", WAIT).fields();
            assertEquals("WRONG_TOKEN", token.get("reason"));
            assertTrue(token.get("message").contains("token does not match"), token.get("message"));
            Map<String, String> mismatch = otherPlanReceiver.await("REJECTED", WAIT).fields();
            assertEquals("PLAN_MISMATCH", mismatch.get("reason"));
            assertTrue(mismatch.get("message").contains(otherPlan) && mismatch.get("message").contains(plan.fingerprint()),
                    mismatch.get("message"));
            assertEquals(2, wrongToken.awaitExit(WAIT));
            assertEquals(2, otherPlanReceiver.awaitExit(WAIT));

            // The sender is unharmed: a proper receiver joins and gets an update.
            ChildJvm good = receiver("reject-good", sender.port());
            good.await("JOINED", WAIT);
            SyncFixtures.fill(plan, sources, 1);
            sender.publish(1, Duration.ofSeconds(20));
            assertExact(committed(good, 1), 1, SyncFixtures.digest(plan, sources), plan);
            assertEquals(3, rejections.size(), rejections.toString());
            assertTrue(rejections.stream().anyMatch(r -> r.startsWith("WRONG_TOKEN")), rejections.toString());
            assertTrue(rejections.stream().anyMatch(r -> r.startsWith("PLAN_MISMATCH")), rejections.toString());
            assertTrue(rejections.stream().anyMatch(r -> r.startsWith("PROTOCOL") && r.contains("exceeds the maximum")),
                    rejections.toString());
        }
    }

    @Test
    void two_hundred_update_cycles_do_not_grow_native_memory() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
        int cycles = 200;
        List<String> nmt = List.of("-XX:NativeMemoryTracking=summary");
        try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(2)
                .token(SyncFixtures.TOKEN).start()) {
            ChildJvm staged = receiver("cycles-staged", nmt, sender.port(), "mode=scatter", "commit=staged",
                    "nativeAt=20," + cycles, "exitAfter=" + cycles);
            ChildJvm inPlace = receiver("cycles-inplace", nmt, sender.port(), "mode=deliver", "commit=in-place",
                    "nativeAt=20," + cycles, "exitAfter=" + cycles);
            staged.await("JOINED", WAIT);
            inPlace.await("JOINED", WAIT);
            long senderBaseline = -1;
            for (long version = 1; version <= cycles; version++) {
                SyncFixtures.fill(plan, sources, version);
                sender.publish(version, Duration.ofSeconds(20));
                if (senderBaseline < 0) {
                    senderBaseline = NativeMemoryLedger.liveBytes();
                    // Zero-copy: no bucket buffers, only the two small staging buffers for small tensors and padding.
                    assertTrue(senderBaseline > 0 && senderBaseline < plan.maxBucketByteSize(),
                            "the sender's staging buffers: " + senderBaseline + " bytes");
                } else {
                    assertEquals(senderBaseline, NativeMemoryLedger.liveBytes(), "sender native bytes after cycle " + version);
                }
            }
            for (ChildJvm child : List.of(staged, inPlace)) {
                for (long version = 1; version <= cycles; version++) {
                    ChildJvm.Line line = committed(child, version);
                    assertEquals("null", line.fields().get("mismatch"), line.text());
                }
                Map<String, String> early = child.first("NATIVE version=20 ").fields();
                Map<String, String> late = child.await("NATIVE version=" + cycles + " ", WAIT).fields();
                assertEquals(early.get("ledger"), late.get("ledger"), "sync-layer native bytes, cycle 20 vs " + cycles);
                long earlyKb = Long.parseLong(early.get("nmtOtherKb"));
                long lateKb = Long.parseLong(late.get("nmtOtherKb"));
                assertTrue(earlyKb > 0, "NMT must be on in the child");
                // One leaked bucket buffer per cycle would add 180 MiB; allow 1 MiB of allocator noise.
                assertTrue(lateKb - earlyKb < 1024, child.all().getLast().text() + ": NMT Other grew from " + earlyKb
                        + " KB to " + lateKb + " KB");
                Measurements.report("cycles " + child, early.get("nmtOtherKb") + " KB -> " + late.get("nmtOtherKb")
                        + " KB, ledger " + early.get("ledger") + " -> " + late.get("ledger"));
                assertEquals(0, child.awaitExit(WAIT));
            }
        }
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }

    private static void report(String test, Duration deadline, long start, long event, long sender, long r1, long r2)
            throws IOException {
        Measurements.report(test, "deadline " + deadline.toMillis() + " ms; event at " + ms(event - start)
                + " ms after the update began; sender failed at " + ms(sender - start) + " ms (" + ms(sender - event)
                + " ms after the event); receivers failed at " + ms(r1 - start) + " ms and " + ms(r2 - start) + " ms");
    }
}
