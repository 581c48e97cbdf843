package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.HostPlanStorage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zero-copy modes over the host transport, sender and receivers in one JVM: a sender broadcasting straight from
 * {@link HostPlanStorage}, receivers landing each bucket in place or flipping between two storages; leases, the
 * reuse rule, a failure at every bucket, and the checks made before anything moves.
 */
@Timeout(60)
class StorageSyncTest {
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    private final BucketPlan plan = SyncFixtures.plan(1);
    private final HostPlanStorage sources = HostPlanStorage.allocate(plan);
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void release() throws Exception {
        pool.shutdownNow();
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        sources.close();
    }

    private WeightSender sender(int receivers, SyncListener listener) {
        WeightSender sender = WeightSender.builder().sources(sources).receivers(receivers).token(SyncFixtures.TOKEN)
                .listener(listener).start();
        toClose.add(sender);
        return sender;
    }

    private WeightReceiver receiver(WeightSender sender, CommitMode mode,
            java.util.function.UnaryOperator<WeightReceiver.Builder> destination) {
        WeightReceiver receiver = destination.apply(WeightReceiver.builder().sender("127.0.0.1", sender.port())
                .token(SyncFixtures.TOKEN).commitMode(mode)).join(Duration.ofSeconds(5));
        toClose.add(receiver);
        return receiver;
    }

    /** Publishes {@code version} (sources filled with its pattern) while every receiver awaits it. */
    private UpdateReport publish(WeightSender sender, long version, WeightReceiver... receivers) throws Exception {
        SyncFixtures.fill(plan, sources.tensorSegments(), version);
        List<Future<Optional<UpdateReport>>> updates = new ArrayList<>();
        for (WeightReceiver r : receivers) {
            updates.add(pool.submit(() -> r.awaitUpdate(DEADLINE)));
        }
        UpdateReport report = sender.publish(version, DEADLINE);
        for (Future<Optional<UpdateReport>> update : updates) {
            assertEquals(version, update.get(30, TimeUnit.SECONDS).orElseThrow().version());
        }
        return report;
    }

    @Test
    void versions_go_straight_from_storage_into_storage_in_place_and_flipped_byte_exact() throws Exception {
        WeightSender sender = sender(2, new SyncListener() { });
        HostPlanStorage live = HostPlanStorage.allocate(plan);
        toClose.add(live);
        WeightReceiver inPlace = receiver(sender, CommitMode.IN_PLACE, b -> b.receiveInto(live));
        WeightReceiver flip = receiver(sender, CommitMode.STAGED, WeightReceiver.Builder::allocateStorage);
        assertEquals(0, inPlace.bufferBytes(), "in place: the storage is the weights, nothing besides");
        StagedWeights<HostPlanStorage> weights = flip.stagedWeights(HostPlanStorage.class);
        assertEquals(live.allocatedBytes(), flip.bufferBytes(), "flip: one storage besides the weights");
        assertEquals(2 * live.allocatedBytes(), weights.allocatedBytes());
        assertEquals(OptionalLong.empty(), weights.version());
        assertThrows(IllegalStateException.class, weights::acquire, "nothing committed yet");
        assertTrue(live == inPlace.storage(HostPlanStorage.class));

        for (long version = 1; version <= 3; version++) {
            UpdateReport report = publish(sender, version, inPlace, flip);
            assertEquals(plan.bucketCount(), report.collectiveCalls());
            assertNull(SyncFixtures.firstMismatch(plan, live.tensorSegments(), version));
            try (StagedWeights.Lease<HostPlanStorage> lease = weights.acquire()) {
                assertEquals(version, lease.version());
                assertNull(SyncFixtures.firstMismatch(plan, lease.storage().tensorSegments(), version));
            }
            assertEquals(new ReceiverState.Committed(version), flip.state());
            assertEquals(OptionalLong.of(version), weights.version());
        }
    }

    /**
     * A lease pins one version: it reads that version's bytes while the next update lands and commits, the one after
     * waits for it and, when it is still open at the deadline, fails without touching the committed version; closed,
     * the next update overwrites its storage.
     */
    @Test
    void a_lease_pins_its_version_across_a_flip_and_an_update_that_needs_its_storage_fails_at_the_deadline()
            throws Exception {
        WeightSender sender = sender(1, new SyncListener() { });
        WeightReceiver flip = receiver(sender, CommitMode.STAGED, WeightReceiver.Builder::allocateStorage);
        StagedWeights<HostPlanStorage> weights = flip.stagedWeights(HostPlanStorage.class);
        publish(sender, 1, flip);
        StagedWeights.Lease<HostPlanStorage> one = weights.acquire();
        publish(sender, 2, flip);
        assertEquals(1, one.version());
        assertNull(SyncFixtures.firstMismatch(plan, one.storage().tensorSegments(), 1), "v1 whole after v2 committed");
        try (StagedWeights.Lease<HostPlanStorage> two = weights.acquire()) {
            assertEquals(2, two.version());
            assertEquals(2, weights.openLeases());
        }

        SyncFixtures.fill(plan, sources.tensorSegments(), 3);
        Future<UpdateFailedException> receiving = pool.submit(() -> SyncFixtures.assertFails(
                FailureReason.APPLICATION_ERROR, () -> flip.awaitUpdate(DEADLINE)));
        UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.APPLICATION_ERROR,
                () -> sender.publish(3, Duration.ofSeconds(3)));
        UpdateFailedException here = receiving.get(30, TimeUnit.SECONDS);
        assertEquals(1, atSender.failedRank(), atSender.getMessage());
        assertTrue(here.getMessage().contains("still read version 1"), here.getMessage());
        assertEquals(Optional.of(new ReceiverState.Committed(2)), here.receiverState());
        assertNull(SyncFixtures.firstMismatch(plan, one.storage().tensorSegments(), 1), "v1 untouched");
        try (StagedWeights.Lease<HostPlanStorage> two = weights.acquire()) {
            assertEquals(2, two.version());
            assertNull(SyncFixtures.firstMismatch(plan, two.storage().tensorSegments(), 2));
        }

        one.close();
        one.close(); // idempotent
        assertThrows(IllegalStateException.class, one::storage);
        publish(sender, 4, flip);
        try (StagedWeights.Lease<HostPlanStorage> four = weights.acquire()) {
            assertEquals(4, four.version());
            assertNull(SyncFixtures.firstMismatch(plan, four.storage().tensorSegments(), 4));
        }
    }

    /** A listener that fails the update right after bucket k of version v arrived, for each "v:k" in {@code at}. */
    private static SyncListener failingAt(List<String> at) {
        return new SyncListener() {
            @Override
            public void onBucket(BucketProgress p) {
                if (at.remove(p.version() + ":" + p.bucket())) {
                    throw new IllegalStateException("injected after bucket " + p.bucket());
                }
            }
        };
    }

    /**
     * For every bucket k, an update fails right after bucket k arrived at the flipping receiver (its listener
     * throws): it keeps the committed version, bytes and all, an open lease of it still reads it, and the next update
     * commits. The in-place receiver beside it hears the sender's abort: torn if it applied a bucket by then, as it
     * was if none, and whole again after the next update.
     */
    @Test
    void the_flip_under_a_failure_at_every_bucket_keeps_the_committed_version_and_the_next_update_commits()
            throws Exception {
        WeightSender sender = sender(2, new SyncListener() { });
        List<String> flipFailsAt = new CopyOnWriteArrayList<>();
        WeightReceiver flip = receiver(sender, CommitMode.STAGED, b -> b.allocateStorage()
                .listener(failingAt(flipFailsAt)));
        WeightReceiver inPlace = receiver(sender, CommitMode.IN_PLACE, WeightReceiver.Builder::allocateStorage);
        StagedWeights<HostPlanStorage> weights = flip.stagedWeights(HostPlanStorage.class);
        HostPlanStorage live = inPlace.storage(HostPlanStorage.class);
        long version = 1;
        publish(sender, version, flip, inPlace);
        for (int k = 0; k < plan.bucketCount(); k++) {
            long committed = version;
            long failing = ++version;
            flipFailsAt.add(failing + ":" + k);
            try (StagedWeights.Lease<HostPlanStorage> held = weights.acquire()) {
                SyncFixtures.fill(plan, sources.tensorSegments(), failing);
                Future<UpdateFailedException> atFlip = pool.submit(() -> SyncFixtures.assertFails(
                        FailureReason.APPLICATION_ERROR, () -> flip.awaitUpdate(DEADLINE)));
                Future<ReceiverState> atInPlace = pool.submit(() -> inPlaceOutcome(inPlace));
                UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.APPLICATION_ERROR,
                        () -> sender.publish(failing, DEADLINE));
                assertTrue(atSender.failedRank() == 1 || atSender.failedRank() == 2, atSender.getMessage());
                UpdateFailedException flipFailure = atFlip.get(30, TimeUnit.SECONDS);
                assertEquals(Optional.of(new ReceiverState.Committed(committed)), flipFailure.receiverState(),
                        "bucket " + k + ": the flip left the state as it was");
                assertEquals(OptionalLong.of(committed), weights.version(), "bucket " + k + ": no flip");
                assertNull(SyncFixtures.firstMismatch(plan, held.storage().tensorSegments(), committed),
                        "bucket " + k + ": the held lease still reads version " + committed);
                try (StagedWeights.Lease<HostPlanStorage> fresh = weights.acquire()) {
                    assertEquals(committed, fresh.version());
                    assertNull(SyncFixtures.firstMismatch(plan, fresh.storage().tensorSegments(), committed));
                }
                assertTrue(flipFailsAt.isEmpty(), "bucket " + k + ": the flip's injected failure fired");
                ReceiverState inPlaceState = atInPlace.get(30, TimeUnit.SECONDS);
                assertTrue(List.of(new ReceiverState.Torn(committed, failing, ""), new ReceiverState.Committed(committed),
                        new ReceiverState.Committed(failing)).contains(inPlaceState), "bucket " + k + ": " + inPlaceState);
                assertEquals(inPlaceState, withoutCause(inPlace.state()), "bucket " + k);
            }
            publish(sender, ++version, flip, inPlace);
            try (StagedWeights.Lease<HostPlanStorage> next = weights.acquire()) {
                assertEquals(version, next.version());
                assertNull(SyncFixtures.firstMismatch(plan, next.storage().tensorSegments(), version));
            }
            assertNull(SyncFixtures.firstMismatch(plan, live.tensorSegments(), version));
            assertEquals(new ReceiverState.Committed(version), inPlace.state());
        }
    }

    /**
     * The in-place receiver's outcome of an update the sender aborts for another receiver's failure: the abort's
     * reason and torn when it applied some buckets, as it was when it applied none, or committed when every bucket
     * had landed before the abort came.
     */
    private static ReceiverState inPlaceOutcome(WeightReceiver inPlace) {
        try {
            inPlace.awaitUpdate(DEADLINE);
        } catch (UpdateFailedException e) {
            assertEquals(FailureReason.APPLICATION_ERROR, e.reason(), e.getMessage());
            return withoutCause(e.receiverState().orElseThrow());
        }
        return inPlace.state();
    }

    private static ReceiverState withoutCause(ReceiverState state) {
        return state instanceof ReceiverState.Torn t ? new ReceiverState.Torn(t.lastCommittedVersion(),
                t.failedVersion(), "") : state;
    }

    @Test
    void a_receiver_whose_storage_has_another_layout_declines_the_plan_naming_both_fingerprints() {
        List<String> rejections = new CopyOnWriteArrayList<>();
        WeightSender sender = sender(1, SyncFixtures.recordingRejections(rejections));
        BucketPlan other = BucketPlanner.plan(SyncFixtures.inventory(1), SyncFixtures.CAP / 2);
        try (HostPlanStorage wrong = HostPlanStorage.allocate(other)) {
            JoinRejectedException e = assertThrows(JoinRejectedException.class, () -> WeightReceiver.builder()
                    .sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN).commitMode(CommitMode.IN_PLACE)
                    .receiveInto(wrong).join(Duration.ofSeconds(5)));
            assertEquals(FailureReason.PLAN_MISMATCH, e.reason());
            assertTrue(e.getMessage().contains(other.fingerprint()) && e.getMessage().contains(plan.fingerprint()),
                    e.getMessage());
        }
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (rejections.isEmpty() && System.nanoTime() < until) {
            Thread.onSpinWait();
        }
        assertEquals(1, rejections.size(), String.valueOf(rejections));
        assertTrue(rejections.get(0).startsWith("PLAN_MISMATCH: ") && rejections.get(0).contains(other.fingerprint()),
                rejections.get(0));
    }

    @Test
    void storage_that_does_not_fit_the_mode_or_the_transport_is_refused_before_anything_moves() {
        WeightSender.Builder withPlan = WeightSender.builder().sources(sources).plan(plan).receivers(1)
                .token(SyncFixtures.TOKEN);
        assertTrue(assertThrows(IllegalStateException.class, withPlan::start).getMessage().contains("carries the plan"));
        WeightSender.Builder withMap = WeightSender.builder().sources(sources).receivers(1).token(SyncFixtures.TOKEN);
        withMap.hostSources(sources.tensorSegments());
        assertThrows(IllegalStateException.class, withMap::start, "a tensor map besides the storage");
        WeightSender.Builder overNccl = WeightSender.builder().sources(sources).receivers(1).token(SyncFixtures.TOKEN)
                .transport(Transport.nccl(0));
        assertTrue(assertThrows(IllegalStateException.class, overNccl::start).getMessage()
                .contains("needs a DevicePlanStorage"));

        HostPlanStorage other = HostPlanStorage.allocate(plan);
        toClose.add(other);
        Map<String, java.util.function.Function<WeightReceiver.Builder, WeightReceiver.Builder>> refused = Map.of(
                "IN_PLACE receives into one storage", b -> b.commitMode(CommitMode.IN_PLACE).receiveInto(sources, other),
                "STAGED flips between two storages", b -> b.receiveInto(other),
                "the same storage twice", b -> b.receiveInto(other, other),
                "moves device memory", b -> b.transport(Transport.nccl(0)).allocateStorage()
                        .receiveInto(other, sources));
        for (var c : refused.entrySet()) {
            WeightReceiver.Builder builder = c.getValue().apply(WeightReceiver.builder().sender("127.0.0.1", 1)
                    .token(SyncFixtures.TOKEN));
            RuntimeException e = assertThrows(RuntimeException.class, () -> builder.join(Duration.ofSeconds(1)));
            assertTrue(e.getMessage().contains(c.getKey()), c.getKey() + ": " + e);
        }
        try (HostPlanStorage closed = HostPlanStorage.allocate(plan)) {
            closed.close();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WeightReceiver.builder()
                    .sender("127.0.0.1", 1).token(SyncFixtures.TOKEN).commitMode(CommitMode.IN_PLACE)
                    .receiveInto(closed).join(Duration.ofSeconds(1)));
            assertTrue(e.getMessage().contains("closed storage"), e.getMessage());
        }
        WeightReceiver.Builder both = WeightReceiver.builder().sender("127.0.0.1", 1).token(SyncFixtures.TOKEN)
                .allocateStorage();
        both.scatterInto(sources.tensorSegments());
        assertTrue(assertThrows(IllegalStateException.class, () -> both.join(Duration.ofSeconds(1))).getMessage()
                .contains("exactly one of"));
    }
}
