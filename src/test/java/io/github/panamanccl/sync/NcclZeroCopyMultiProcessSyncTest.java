package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zero-copy modes with real ranks: the sender (rank 0, fake GPU 0) in this JVM, broadcasting straight from
 * {@link DevicePlanStorage}, and two receivers, each a JVM of its own ({@link StorageReceiverProcess}) on fake GPU 1
 * or 2 receiving into storage it allocated from the plan, one communicator of nranks 3 over the fake NCCL. Counts
 * every native copy per update on every rank, against the pack-and-scatter path, and fails the flip at every bucket.
 * Process output is kept under target/sync-processes/, the measurements in target/sync-processes/measurements.txt.
 */
@Tag("fake-cuda")
@Timeout(180)
class NcclZeroCopyMultiProcessSyncTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final int DEVICES = 3;

    private final List<ChildJvm> children = new ArrayList<>();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final BucketPlan plan = SyncFixtures.plan(1);
    private HostPlanStorage host;
    private DevicePlanStorage source;

    @BeforeEach
    void fakes() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        FakeNative.cudartSetDeviceCount(DEVICES);
        Cuda.setDevice(0);
        host = HostPlanStorage.allocate(plan);
        source = DevicePlanStorage.allocate(plan);
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
        source.close();
        host.close();
        FakeNative.cudartReset();
        FakeNative.ncclReset();
    }

    @Test
    void zero_copy_versions_reach_two_receiver_processes_byte_exact_with_no_native_copy_on_any_rank() throws Exception {
        WeightSender sender = startSender(b -> b.sources(source));
        ChildJvm inPlace = receiver("zero-copy-in-place", sender, 1, "mode=in-place");
        ChildJvm flip = receiver("zero-copy-flip", sender, 2, "mode=flip");
        StringJoiner table = new StringJoiner("; ");
        for (long version = 1; version <= 3; version++) {
            String senderCopies = publishCounted(sender, version, 0);
            Map<String, String> a = committed(inPlace, version, 0);
            Map<String, String> b = committed(flip, version, 0);
            assertEquals(version == 1 ? "none" : (version - 1) + ":ok", b.get("held"),
                    "a lease of the previous version read it whole while this one landed and flipped");
            table.add("v" + version + " sender " + senderCopies + ", in-place " + copies(a) + ", flip " + copies(b));
        }
        Measurements.report("zero-copy processes", plan.bucketCount() + " buckets; native copies per update "
                + "(cudaMemcpyBatchAsync/cudaMemcpyAsync/cudaMemcpy) on each rank: " + table);
    }

    @Test
    void pack_and_scatter_make_one_batched_copy_per_bucket_on_each_rank() throws Exception {
        WeightSender sender = startSender(b -> b.plan(plan).deviceSources(source.tensorMemory()));
        ChildJvm inPlace = receiver("scatter-in-place", sender, 1, "mode=scatter-in-place");
        ChildJvm staged = receiver("scatter-staged", sender, 2, "mode=scatter-staged");
        StringJoiner table = new StringJoiner("; ");
        for (long version = 1; version <= 2; version++) {
            String senderCopies = publishCounted(sender, version, plan.bucketCount());
            Map<String, String> a = committed(inPlace, version, plan.bucketCount());
            Map<String, String> b = committed(staged, version, plan.bucketCount());
            table.add("v" + version + " sender " + senderCopies + ", scatter in place " + copies(a) + ", scatter staged "
                    + copies(b));
        }
        Measurements.report("pack+scatter processes", plan.bucketCount() + " buckets; native copies per update "
                + "(cudaMemcpyBatchAsync/cudaMemcpyAsync/cudaMemcpy) on each rank: " + table);
    }

    /**
     * For every bucket k, the update to an even version fails on the flipping receiver at bucket k (a local CUDA
     * error right after that bucket's broadcast was enqueued): every rank fails naming it; it keeps the committed
     * version (state, bytes read through a fresh lease, and a lease held across the failure); the in-place receiver
     * is torn by the same failure if it had begun writing; the next update commits on both, byte-exact.
     */
    @Test
    void the_flip_under_a_failure_at_every_bucket_keeps_the_committed_version_and_the_next_update_commits()
            throws Exception {
        WeightSender sender = startSender(b -> b.sources(source));
        StringJoiner failAt = new StringJoiner(",", "failAt=", "");
        for (int k = 0; k < plan.bucketCount(); k++) {
            failAt.add((2 + 2 * k) + ":" + k);
        }
        ChildJvm flip = receiver("flip-failing", sender, 1, "mode=flip", failAt.toString());
        ChildJvm inPlace = receiver("flip-failing-in-place", sender, 2, "mode=in-place");
        publishCounted(sender, 1, 0);
        String flipRank = committed(flip, 1, 0).get("rank");
        committed(inPlace, 1, 0);
        StringJoiner seen = new StringJoiner("; ");
        for (int k = 0; k < plan.bucketCount(); k++) {
            long failing = 2 + 2L * k;
            fill(failing);
            UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.LOCAL_ERROR,
                    () -> sender.publish(failing, DEADLINE));
            assertEquals(flipRank, String.valueOf(atSender.failedRank()), atSender.getMessage());
            Map<String, String> f = failed(flip, failing);
            assertEquals("LOCAL_ERROR", f.get("reason"), f.toString());
            assertEquals(flipRank, f.get("failedRank"), f.toString());
            assertTrue(f.get("message").contains("cudaEventRecord"), f.get("message"));
            assertEquals("Committed", f.get("state"), "bucket " + k + ": no flip, the state as it was");
            assertEquals(String.valueOf(failing - 1), f.get("committed"), f.toString());
            assertEquals("true", f.get("intact"), "bucket " + k + ": a fresh lease reads version " + (failing - 1));
            assertEquals((failing - 1) + ":ok", f.get("held"), "bucket " + k + ": the lease held across the failure");
            assertEquals(String.valueOf(k + 1), f.get("broadcasts"), "bucket " + k + ": failed after its broadcast, "
                    + "before the next one");
            // In place: torn once it began writing; the flipping rank may fail before this one has begun the update.
            Map<String, String> other = failed(inPlace, failing);
            assertTrue(other.get("state").equals("Torn") || other.get("state").equals("Committed")
                    && other.get("committed").equals(String.valueOf(failing - 1)) && other.get("intact").equals("true")
                    && other.get("broadcasts").equals("0"), "in place: " + other);
            seen.add("bucket " + k + ": flip kept v" + f.get("committed") + " (" + f.get("broadcasts")
                    + " broadcasts issued), in-place " + other.get("state"));

            long next = failing + 1;
            publishCounted(sender, next, 0);
            committed(inPlace, next, 0);
            assertEquals((next - 2) + ":ok", committed(flip, next, 0).get("held"), "the lease held across the flip");
        }
        assertEquals(1, FakeNative.ncclLiveComms(), "rank 0's communicators: only the last, healthy one is left");
        Measurements.report("zero-copy flip failures", seen.toString());
    }

    // ---- helpers ----

    private WeightSender startSender(UnaryOperator<WeightSender.Builder> sources) {
        WeightSender sender = sources.apply(WeightSender.builder()).receivers(2).token(SyncFixtures.TOKEN)
                .transport(Transport.nccl(0)).ioTimeout(Duration.ofSeconds(5)).start();
        toClose.add(sender);
        return sender;
    }

    /** A receiver JVM on fake GPU {@code device}, joined before this returns. */
    private ChildJvm receiver(String name, WeightSender sender, int device, String... args)
            throws IOException, InterruptedException {
        List<String> jvm = new ArrayList<>();
        for (String property : List.of("panamanccl.test.native.dir", "panamanccl.nccl.path", "panamanccl.cudart.path")) {
            jvm.add("-D" + property + "=" + System.getProperty(property));
        }
        List<String> all = new ArrayList<>(List.of("port=" + sender.port(), "name=" + name, "device=" + device,
                "devices=" + DEVICES));
        all.addAll(List.of(args));
        ChildJvm child = ChildJvm.start(name, jvm, StorageReceiverProcess.class, all);
        children.add(child);
        child.await("JOINED", WAIT);
        return child;
    }

    /** Writes {@code version}'s pattern into the sender's storage; done before publish, as the sender requires. */
    private void fill(long version) {
        SyncFixtures.fill(plan, host.tensorSegments(), version);
        DeviceStorageCopies.upload(host, source);
    }

    /**
     * Publishes {@code version}, checks the sender's copies during it ({@code batches} cudaMemcpyBatchAsync, no
     * other copy) and one ncclBroadcast per bucket; returns them as "batches/async/sync".
     */
    private String publishCounted(WeightSender sender, long version, long batches) {
        fill(version);
        long[] before = {FakeNative.cudartCallCount("cudaMemcpyBatchAsync"), FakeNative.cudartCallCount("cudaMemcpyAsync"),
                FakeNative.cudartCallCount("cudaMemcpy"), FakeNative.ncclCallCount("ncclBroadcast")};
        UpdateReport report = sender.publish(version, DEADLINE);
        long[] d = {FakeNative.cudartCallCount("cudaMemcpyBatchAsync") - before[0],
                FakeNative.cudartCallCount("cudaMemcpyAsync") - before[1],
                FakeNative.cudartCallCount("cudaMemcpy") - before[2], FakeNative.ncclCallCount("ncclBroadcast") - before[3]};
        assertEquals(List.of(1, 2), report.acknowledgedRanks());
        assertEquals(List.of(batches, 0L, 0L, (long) plan.bucketCount()), List.of(d[0], d[1], d[2], d[3]),
                "rank 0, version " + version + ": cudaMemcpyBatchAsync, cudaMemcpyAsync, cudaMemcpy, ncclBroadcast");
        return d[0] + "/" + d[1] + "/" + d[2];
    }

    /**
     * The child's COMMITTED line for {@code version}: byte-exact, one broadcast per bucket, {@code batches}
     * cudaMemcpyBatchAsync and no other copy during the update. Returns its fields.
     */
    private Map<String, String> committed(ChildJvm child, long version, long batches) throws InterruptedException {
        ChildJvm.Line line = child.await(l -> l.startsWith("COMMITTED version=" + version + " ")
                || l.startsWith("FAILED") || l.startsWith("LOST"), WAIT);
        Map<String, String> f = line.fields();
        assertTrue(line.text().startsWith("COMMITTED"), line.text());
        assertEquals("null", f.get("mismatch"), line.text());
        assertEquals(String.valueOf(SyncFixtures.digest(plan, host.tensorSegments())), f.get("digest"), line.text());
        assertEquals(String.valueOf(plan.bucketCount()), f.get("calls"), line.text());
        assertEquals(String.valueOf(plan.bucketCount()), f.get("broadcasts"), line.text());
        assertEquals(List.of(String.valueOf(batches), "0", "0"),
                List.of(f.get("batches"), f.get("asyncCopies"), f.get("syncCopies")), line.text());
        return f;
    }

    private static Map<String, String> failed(ChildJvm child, long version) throws InterruptedException {
        ChildJvm.Line line = child.await(l -> l.startsWith("FAILED version=" + version + " ")
                || l.startsWith("COMMITTED version=" + version + " ") || l.startsWith("LOST"), WAIT);
        assertTrue(line.text().startsWith("FAILED"), line.text());
        return line.fields();
    }

    private static String copies(Map<String, String> f) {
        return f.get("batches") + "/" + f.get("asyncCopies") + "/" + f.get("syncCopies");
    }
}
