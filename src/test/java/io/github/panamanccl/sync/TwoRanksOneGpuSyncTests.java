package io.github.panamanccl.sync;

import io.github.panamanccl.Nccl;
import io.github.panamanccl.NcclVersion;
import io.github.panamanccl.bucket.BucketPlan;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Two ranks on ONE GPU, which NCCL allows from 2.30 on with {@code NCCL_MULTI_RANK_GPU_ENABLE=1} (experimental, up to
 * two ranks per GPU): a sender JVM ({@link NcclSenderProcess}) and a receiver JVM ({@link NcclReceiverProcess}), both
 * on device 0, over {@code Transport.nccl(0)}. This JVM only starts them, tells the sender when to publish and checks
 * what both say. With an older NCCL the tests are skipped, naming the version. The same tests run over the fakes (one
 * fake GPU: {@link TwoRanksOneGpuFakeCudaTest}) and on the GPU machine ({@link TwoRanksOneGpuGpuTest}); process
 * output is kept under target/sync-processes/.
 */
abstract class TwoRanksOneGpuSyncTests {
    static final Map<String, String> TWO_RANKS_PER_GPU = Map.of("NCCL_MULTI_RANK_GPU_ENABLE", "1");
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final long UPDATE_DEADLINE_MILLIS = 60_000;

    private final List<ChildJvm> children = new ArrayList<>();
    private final Arena arena = Arena.ofShared();
    private final BucketPlan plan = SyncFixtures.plan(scale());
    private final Map<String, MemorySegment> expected = SyncFixtures.allocate(plan, arena);

    /** Scale of the fixture plan: its buckets are 1 MiB, so a larger scale keeps the sender in a broadcast longer. */
    abstract int scale();

    /** The deadline of the update during which the receiver is killed. */
    abstract Duration killDeadline();

    @BeforeEach
    void ncclThatSharesAGpu() {
        NcclVersion version = Nccl.version();
        System.out.println("[two ranks on one GPU] NCCL " + version);
        assumeTrue(version.isAtLeast(2, 30, 0), () -> "NCCL " + version + ": two ranks cannot share a GPU before NCCL"
                + " 2.30 (NCCL_MULTI_RANK_GPU_ENABLE); skipped");
    }

    @AfterEach
    void stopEverything() throws InterruptedException {
        for (ChildJvm child : children.reversed()) {
            child.close();
        }
        arena.close();
    }

    @Test
    void versions_reach_a_receiver_process_on_the_same_gpu_byte_exact() throws Exception {
        ChildJvm sender = sender("two-ranks-sender");
        int port = port(sender);
        ChildJvm receiver = receiver("two-ranks-receiver", port, "commit=in-place");
        receiver.await("JOINED", WAIT);
        List<String> millis = new ArrayList<>();
        for (long version = 1; version <= 3; version++) {
            millis.add("v" + version + " " + publish(sender, version).fields().get("millis") + " ms");
            assertExact(receiver, version);
        }
        Measurements.report("two ranks on one GPU, versions", plan.bucketCount() + " buckets, "
                + plan.totalBucketBytes() + " B per update: " + String.join(", ", millis));
    }

    @Test
    void a_receiver_killed_during_a_broadcast_fails_the_sender_within_its_deadline_and_its_communicator_is_aborted()
            throws Exception {
        ChildJvm sender = sender("two-ranks-kill-sender");
        int port = port(sender);
        ChildJvm victim = receiver("two-ranks-kill-victim", port, "commit=staged", "pause=2:0");
        victim.await("JOINED", WAIT);
        publish(sender, 1);
        assertExact(victim, 1);

        fill(2);
        sender.tell("publish 2 " + killDeadline().toMillis());
        victim.await("PAUSED version=2 bucket=0", WAIT); // it took bucket 0 and receives no more: the sender is stuck
        long killed = System.nanoTime();
        victim.kill();
        ChildJvm.Line failed = sender.await(line -> line.startsWith("FAILED version=2 ")
                || line.startsWith("PUBLISHED version=2 "), WAIT);
        long afterKill = failed.nanos() - killed;

        Map<String, String> f = failed.fields();
        assertEquals("FAILED", failed.text().split(" ")[0], failed.text());
        assertEquals("UpdateFailedException", f.get("type"), failed.text());
        assertEquals("PEER_LOST", f.get("reason"), failed.text());
        assertEquals("1", f.get("failedRank"), failed.text());
        assertTrue(afterKill < killDeadline().toNanos(), "the sender failed " + ms(afterKill)
                + " ms after the kill; deadline " + killDeadline().toMillis() + " ms");
        assertEquals("0", f.get("live"), "the sender holds no communicator: " + failed.text());
        assertTrue(Long.parseLong(f.get("aborts")) >= 1, "the sender aborted its communicator: " + failed.text());
        if (f.containsKey("fakeLive")) {
            assertEquals("0", f.get("fakeLive"), failed.text());
            assertTrue(Long.parseLong(f.get("fakeAborts")) >= 1, failed.text());
        }

        // The GPU takes two ranks again: a new receiver joins a new communicator and gets version 3 intact.
        ChildJvm replacement = receiver("two-ranks-kill-replacement", port, "commit=in-place");
        replacement.await("JOINED", WAIT);
        publish(sender, 3);
        assertExact(replacement, 3);
        Measurements.report("two ranks on one GPU, kill", "deadline " + killDeadline().toMillis() + " ms; the sender "
                + "failed " + ms(afterKill) + " ms after the receiver was killed in version 2 (" + f.get("millis")
                + " ms into the update, phase " + f.get("phase") + "), communicators live " + f.get("live")
                + ", aborted " + f.get("aborts") + "; a replacement got version 3 byte-exact");
    }

    private ChildJvm sender(String name) throws IOException {
        return start(name, NcclSenderProcess.class, List.of("device=0", "scale=" + scale()));
    }

    private ChildJvm receiver(String name, int port, String... args) throws IOException {
        List<String> all = new ArrayList<>(List.of("port=" + port, "name=" + name, "device=0", "devices=1",
                "scale=" + scale()));
        all.addAll(List.of(args));
        return start(name, NcclReceiverProcess.class, all);
    }

    private ChildJvm start(String name, Class<?> main, List<String> args) throws IOException {
        ChildJvm child = ChildJvm.start(name, ChildJvm.propertiesOf(NcclReceiverProcess.LIBRARY_PROPERTIES),
                TWO_RANKS_PER_GPU, main, args);
        children.add(child);
        return child;
    }

    private static int port(ChildJvm sender) throws InterruptedException {
        return Integer.parseInt(sender.await("LISTENING ", WAIT).fields().get("port"));
    }

    /** Tells the sender to publish {@code version}; its PUBLISHED line, checked. */
    private ChildJvm.Line publish(ChildJvm sender, long version) throws Exception {
        fill(version);
        sender.tell("publish " + version + " " + UPDATE_DEADLINE_MILLIS);
        ChildJvm.Line line = sender.await(text -> text.startsWith("PUBLISHED version=" + version + " ")
                || text.startsWith("FAILED version=" + version + " "), WAIT);
        Map<String, String> f = line.fields();
        assertEquals("PUBLISHED", line.text().split(" ")[0], line.text());
        assertEquals("nccl", f.get("transport"), line.text());
        assertEquals(String.valueOf(plan.bucketCount()), f.get("calls"), "one broadcast per bucket: " + line.text());
        assertEquals("[1]", f.get("ranks"), line.text());
        return line;
    }

    /** The receiver's next COMMITTED (or failure) line says it holds exactly the pattern of {@code version}. */
    private void assertExact(ChildJvm receiver, long version) throws InterruptedException {
        ChildJvm.Line line = receiver.await(text -> text.startsWith("COMMITTED version=" + version + " ")
                || text.startsWith("FAILED") || text.startsWith("LOST"), WAIT);
        Map<String, String> f = line.fields();
        assertEquals("COMMITTED", line.text().split(" ")[0], line.text());
        assertEquals("null", f.get("mismatch"), line.text());
        assertEquals(String.valueOf(SyncFixtures.digest(plan, expected)), f.get("digest"), line.text());
        assertEquals(String.valueOf(plan.bucketCount()), f.get("calls"), line.text());
    }

    /** This JVM's copy of what the sender publishes as {@code version}, for the digest the receiver must report. */
    private void fill(long version) {
        SyncFixtures.fill(plan, expected, version);
    }

    private static long ms(long nanos) {
        return TimeUnit.NANOSECONDS.toMillis(nanos);
    }
}
