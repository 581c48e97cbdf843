package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.HexFormat;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sender and receivers in one JVM over the host transport: fast checks of the protocol and both commit modes. */
@Timeout(60)
class InProcessSyncTest {

    @Test
    void staged_scatter_and_in_place_delivery_receive_three_versions_byte_exact() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2)) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> scattered = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> delivered = SyncFixtures.allocate(plan, arena);
            List<BucketProgress> progress = new CopyOnWriteArrayList<>();
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(2)
                    .token(SyncFixtures.TOKEN).listener(new SyncListener() {
                        @Override
                        public void onBucket(BucketProgress p) {
                            progress.add(p);
                        }
                    }).start();
                 WeightReceiver staged = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                         .token(SyncFixtures.TOKEN).commitMode(CommitMode.STAGED).scatterInto(scattered)
                         .join(Duration.ofSeconds(5));
                 WeightReceiver inPlace = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                         .token(SyncFixtures.TOKEN).commitMode(CommitMode.IN_PLACE)
                         .deliverTo(bucket -> copyPieces(bucket, delivered)).join(Duration.ofSeconds(5))) {
                assertEquals(plan.totalBucketBytes(), staged.bufferBytes());
                assertEquals(2 * plan.maxBucketByteSize(), inPlace.bufferBytes());
                assertTrue(plan.bucketCount() >= 3 && plan.pieceCount() > plan.tensorCount() - 1, "the fixture must span several buckets");
                for (long version = 1; version <= 3; version++) {
                    SyncFixtures.fill(plan, sources, version);
                    Future<Optional<UpdateReport>> a = pool.submit(() -> staged.awaitUpdate(Duration.ofSeconds(20)));
                    Future<Optional<UpdateReport>> b = pool.submit(() -> inPlace.awaitUpdate(Duration.ofSeconds(20)));
                    UpdateReport report = sender.publish(version, Duration.ofSeconds(20));
                    assertEquals(version, a.get().orElseThrow().version());
                    assertEquals(version, b.get().orElseThrow().version());
                    assertEquals(List.of(1, 2), report.acknowledgedRanks());
                    assertEquals(plan.bucketCount(), report.collectiveCalls());
                    assertEquals(plan.totalBucketBytes(), report.bytes());
                    assertNull(SyncFixtures.firstMismatch(plan, scattered, version));
                    assertNull(SyncFixtures.firstMismatch(plan, delivered, version));
                    assertEquals(new ReceiverState.Committed(version), staged.state());
                    assertEquals(new ReceiverState.Committed(version), inPlace.state());
                }
                assertEquals(3 * plan.bucketCount(), progress.size());
            }
        }
    }

    /** Delivered mode as an application would do it: copy each piece out of the bucket into its own tensors. */
    static void copyPieces(ReceivedBucket bucket, Map<String, MemorySegment> model) {
        for (var piece : bucket.pieces()) {
            MemorySegment target = model.get(bucket.plan().tensor(piece.tensor()).name());
            MemorySegment.copy(bucket.bytes(), piece.bucketOffset(), target, piece.tensorOffset(), piece.length());
        }
    }

    @Test
    void wrong_token_is_rejected_and_the_sender_keeps_serving() {
        BucketPlan plan = SyncFixtures.plan(1);
        List<String> rejections = new ArrayList<>();
        try (Arena arena = Arena.ofShared();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(1).token(SyncFixtures.TOKEN).listener(SyncFixtures.recordingRejections(rejections)).start()) {
            JoinRejectedException e = org.junit.jupiter.api.Assertions.assertThrows(JoinRejectedException.class,
                    () -> WeightReceiver.builder().sender("127.0.0.1", sender.port()).token("wrong")
                            .deliverTo(b -> { }).join(Duration.ofSeconds(5)));
            assertEquals(FailureReason.WRONG_TOKEN, e.reason());
            assertInstanceOf(SyncException.class, e);
            assertEquals(0, sender.connectedReceivers());
        }
    }

    /**
     * The per-update fingerprint check: a relay on the real control socket rewrites BEGIN to name another plan.
     * The receiver refuses before anything moves, both sides fail with PLAN_MISMATCH naming both plans, and
     * once the relay is honest again the next update re-forms the group and arrives byte-exact.
     */
    @Test
    void an_update_for_another_plan_is_refused_naming_both_fingerprints_before_any_bucket_moves() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        byte[] forged = HexFormat.of().parseHex(plan.fingerprint());
        forged[0] ^= 0x5a;
        String forgedHex = HexFormat.of().formatHex(forged);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            SyncFixtures.fill(plan, sources, 1);
            List<BucketProgress> broadcast = new CopyOnWriteArrayList<>();
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1)
                    .token(SyncFixtures.TOKEN).listener(new SyncListener() {
                        @Override
                        public void onBucket(BucketProgress p) {
                            broadcast.add(p);
                        }
                    }).start();
                 ControlProxy proxy = new ControlProxy(sender.port());
                 WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", proxy.port())
                         .token(SyncFixtures.TOKEN).scatterInto(destinations).join(Duration.ofSeconds(5))) {
                proxy.rewriteFromSender(message -> message instanceof Wire.Begin b
                        ? new Wire.Begin(b.epoch(), b.version(), forged, b.deadlineMillis()) : message);
                Future<Optional<UpdateReport>> refused = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.PLAN_MISMATCH,
                        () -> sender.publish(1, Duration.ofSeconds(20)));
                ExecutionException thrown = assertThrows(ExecutionException.class, refused::get);
                UpdateFailedException atReceiver = SyncFixtures.assertFailure(FailureReason.PLAN_MISMATCH,
                        thrown.getCause());
                for (String message : List.of(atSender.getMessage(), atReceiver.getMessage())) {
                    assertTrue(message.contains(forgedHex) && message.contains(plan.fingerprint()), message);
                }
                assertEquals(1, atSender.failedRank());
                assertEquals(Optional.of(new ReceiverState.Empty()), atReceiver.receiverState());
                assertEquals(new ReceiverState.Empty(), receiver.state());
                assertTrue(broadcast.isEmpty(), "no bucket may move for a mismatched plan: " + broadcast);
                for (MemorySegment destination : destinations.values()) {
                    assertEquals(-1, destination.mismatch(arena.allocate(destination.byteSize())),
                            "destinations untouched");
                }

                proxy.rewriteFromSender(UnaryOperator.identity());
                SyncFixtures.fill(plan, sources, 2);
                Future<Optional<UpdateReport>> accepted = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                assertEquals(List.of(1), sender.publish(2, Duration.ofSeconds(20)).acknowledgedRanks());
                assertEquals(2, accepted.get().orElseThrow().version());
                assertNull(SyncFixtures.firstMismatch(plan, destinations, 2));
            }
        }
    }

    /**
     * An ABORT right behind its BEGIN, both handled by the receiver's control thread before its update thread takes
     * the BEGIN: the relay holds both back until the sender has aborted (no READY came in time), then delivers them
     * back to back and ends the connection, which the receiver sees only after both. The update then fails before it
     * starts, with the sender's reason, not with the lost connection.
     */
    @Test
    void an_abort_right_behind_its_begin_fails_the_update_with_the_sender_s_reason_before_it_starts() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                    .receivers(1).token(SyncFixtures.TOKEN).start();
                 ControlProxy proxy = new ControlProxy(sender.port());
                 WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", proxy.port())
                         .token(SyncFixtures.TOKEN).scatterInto(destinations).join(Duration.ofSeconds(5))) {
                proxy.holdBackFromSender(message -> message instanceof Wire.Begin || message instanceof Wire.Abort);
                Future<UpdateFailedException> atSender = pool.submit(
                        () -> assertThrows(UpdateFailedException.class, () -> sender.publish(1, Duration.ofSeconds(2))));
                do { // forms the group (GROUP passes the relay); the BEGIN never reaches the receiver
                    assertEquals(Optional.empty(), receiver.awaitUpdate(Duration.ofMillis(100)));
                } while (!proxy.awaitHeld(1, Duration.ZERO));
                assertEquals(FailureReason.DEADLINE, atSender.get().reason(), "READY never came");
                assertTrue(proxy.awaitHeld(2, Duration.ofSeconds(10)), "the sender's ABORT");

                proxy.releaseThenCutOff();
                assertTrue(proxy.awaitReceiverGone(Duration.ofSeconds(10)));

                UpdateFailedException atReceiver = SyncFixtures.assertFails(FailureReason.DEADLINE,
                        () -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                assertEquals(1, atReceiver.version());
                assertEquals(atSender.get().failedRank(), atReceiver.failedRank());
                assertTrue(atReceiver.getMessage().contains("sender aborted: "), atReceiver.getMessage());
                assertEquals(Optional.of(new ReceiverState.Empty()), atReceiver.receiverState());
                assertThrows(ConnectionLostException.class, () -> receiver.awaitUpdate(Duration.ofSeconds(5)));
            }
        }
    }

    /**
     * A receiver whose own formation fails (the relay garbles its GROUP's rendezvous) reports GROUP_FAILED; the
     * sender fails the update naming it, and the receiver's awaitUpdate throws that update's failure too, its own
     * formation failure as the cause, instead of waiting on. Once the relay is honest the next update arrives.
     */
    @Test
    void a_receiver_that_cannot_join_the_group_throws_the_update_s_failure_with_its_own_cause() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1)
                    .token(SyncFixtures.TOKEN).start();
                 ControlProxy proxy = new ControlProxy(sender.port());
                 WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", proxy.port())
                         .token(SyncFixtures.TOKEN).scatterInto(destinations).join(Duration.ofSeconds(5))) {
                proxy.rewriteFromSender(message -> message instanceof Wire.FormGroup g ? new Wire.FormGroup(g.version(),
                        g.epoch(), g.rank(), g.worldSize(), g.timeoutMillis(), new byte[1]) : message);
                Future<Optional<UpdateReport>> refused = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.GROUP_FAILED,
                        () -> sender.publish(1, Duration.ofSeconds(20)));
                assertEquals(1, atSender.failedRank());
                assertTrue(atSender.getMessage().contains("could not join the transport group"), atSender.getMessage());

                ExecutionException thrown = assertThrows(ExecutionException.class, () -> refused.get(10, TimeUnit.SECONDS));
                UpdateFailedException atReceiver = SyncFixtures.assertFailure(FailureReason.GROUP_FAILED,
                        thrown.getCause());
                assertEquals(1, atReceiver.version());
                assertEquals(1, atReceiver.failedRank());
                ProtocolException own = assertInstanceOf(ProtocolException.class, atReceiver.getCause());
                assertTrue(own.getMessage().contains("rendezvous has 1 bytes"), own.getMessage());
                assertEquals(Optional.of(new ReceiverState.Empty()), atReceiver.receiverState());

                proxy.rewriteFromSender(UnaryOperator.identity());
                SyncFixtures.fill(plan, sources, 2);
                Future<Optional<UpdateReport>> accepted = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                assertEquals(List.of(1), sender.publish(2, Duration.ofSeconds(20)).acknowledgedRanks());
                assertEquals(2, accepted.get().orElseThrow().version());
                assertNull(SyncFixtures.firstMismatch(plan, destinations, 2));
            }
        }
    }

    /**
     * The sender decides when an update is late: a relay takes 600 ms off the deadline BEGIN announces (as rounding,
     * a slow clock or a late read would, only more), and the receiver's application hangs on its first bucket. The
     * sender still fails exactly at its own deadline (DEADLINE), not earlier and not with a broken
     * pipe from a receiver that gave up first, and the receiver reports the sender's deadline too.
     */
    @Test
    void the_sender_decides_the_deadline_even_when_a_receiver_counts_it_from_earlier() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        CountDownLatch release = new CountDownLatch(1);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                    .receivers(1).token(SyncFixtures.TOKEN).start();
                 ControlProxy proxy = new ControlProxy(sender.port());
                 WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", proxy.port())
                         .token(SyncFixtures.TOKEN).commitMode(CommitMode.IN_PLACE)
                         .deliverTo(bucket -> release.await()).join(Duration.ofSeconds(5))) {
                proxy.rewriteFromSender(message -> message instanceof Wire.Begin b
                        ? new Wire.Begin(b.epoch(), b.version(), b.fingerprint(), Math.max(1, b.deadlineMillis() - 600))
                        : message);
                Future<UpdateFailedException> atReceiver = pool.submit(
                        () -> assertThrows(UpdateFailedException.class, () -> receiver.awaitUpdate(Duration.ofSeconds(20))));
                Duration deadline = Duration.ofMillis(1500);
                long start = System.nanoTime();
                UpdateFailedException atSender = assertThrows(UpdateFailedException.class,
                        () -> sender.publish(1, deadline));
                long elapsed = System.nanoTime() - start;
                SyncFixtures.assertFailure(FailureReason.DEADLINE, atSender);
                // The sender's watchdog and its wait for the late receiver's reply both see the deadline; either may
                // report it first (the latter names the receiver it waited for). Neither is a receiver giving up.
                assertTrue(atSender.failedRank() == UpdateFailedException.UNKNOWN_RANK || atSender.failedRank() == 1,
                        atSender.toString());
                assertTrue(elapsed >= deadline.toNanos(), "the sender failed after " + elapsed / 1_000_000 + " ms");
                UpdateFailedException received = atReceiver.get(10, TimeUnit.SECONDS); // the application still hangs
                SyncFixtures.assertFailure(FailureReason.DEADLINE, received);
                assertTrue(received.getMessage().contains("sender aborted"), received.getMessage());
            } finally {
                release.countDown();
            }
        }
    }

    /** close() while a publish waits for receivers that never come: both end promptly, not at the deadline. */
    @Test
    void closing_the_sender_ends_a_publish_waiting_for_receivers_at_once() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared()) {
            WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                    .receivers(1).token(SyncFixtures.TOKEN).start();
            CompletableFuture<RuntimeException> thrown = new CompletableFuture<>();
            Thread publishing = Thread.ofPlatform().start(() -> thrown.complete(
                    assertThrows(RuntimeException.class, () -> sender.publish(1, Duration.ofSeconds(30)))));
            long waitingSince = System.nanoTime();
            while (publishing.getState() != Thread.State.TIMED_WAITING) { // inside the wait for receivers
                assertTrue(System.nanoTime() - waitingSince < TimeUnit.SECONDS.toNanos(10), publishing.getState().name());
                Thread.onSpinWait();
            }
            long start = System.nanoTime();
            sender.close();
            long closing = System.nanoTime() - start;
            RuntimeException e = thrown.get(5, TimeUnit.SECONDS);
            assertTrue(closing < TimeUnit.SECONDS.toNanos(5), "close() took " + closing / 1_000_000 + " ms");
            UpdateFailedException failed = SyncFixtures.assertFailure(FailureReason.CLOSED, e); // not a peer's failure
            assertEquals(1, failed.version());
            assertTrue(failed.getMessage().contains("the sender was closed"), failed.getMessage());
        }
    }

    /**
     * The sender's listener takes longer than the deadline to handle a successful update. The update's deadline
     * watchdog must not fire meanwhile and abort the group, which the next publish would reuse and fail on.
     */
    @Test
    void a_listener_slower_than_the_deadline_does_not_spoil_the_group_for_the_next_update() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        Duration deadline = Duration.ofSeconds(1);
        AtomicLong firstStart = new AtomicLong();
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1)
                    .token(SyncFixtures.TOKEN).listener(new SyncListener() {
                        @Override
                        public void onUpdate(UpdateReport report) {
                            if (report.version() == 1) { // outlive update 1's deadline (and its watchdog)
                                long until = firstStart.get() + deadline.toNanos() + TimeUnit.MILLISECONDS.toNanos(300);
                                for (long left; (left = until - System.nanoTime()) > 0; ) {
                                    LockSupport.parkNanos(left);
                                }
                            }
                        }
                    }).start();
                 WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                         .token(SyncFixtures.TOKEN).scatterInto(destinations).join(Duration.ofSeconds(5))) {
                for (long version = 1; version <= 2; version++) {
                    SyncFixtures.fill(plan, sources, version);
                    Future<Optional<UpdateReport>> received = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                    firstStart.compareAndSet(0, System.nanoTime());
                    assertEquals(version, sender.publish(version, version == 1 ? deadline : Duration.ofSeconds(20)).version());
                    assertEquals(version, received.get().orElseThrow().version());
                    assertNull(SyncFixtures.firstMismatch(plan, destinations, version));
                }
                assertTrue(System.nanoTime() - firstStart.get() > deadline.toNanos(), "update 1's deadline has passed");
            }
        }
    }

    /**
     * One byte flipped on the data connection, in bucket 1 of update 2: the receiver's checksum fails, it reports
     * CORRUPT_BUCKET and the sender names it. In place, the bucket's bytes had landed in the tensors before their
     * checksum was checked: TORN. Staged, nothing was applied: still version 1, byte-exact. Update 3 commits.
     */
    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void a_bucket_corrupted_on_the_wire_tears_an_in_place_receiver_and_leaves_a_staged_one_intact(CommitMode mode)
            throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor();
             DataRelay relay = new DataRelay()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1)
                    .token(SyncFixtures.TOKEN).start();
                 ControlProxy proxy = new ControlProxy(sender.port())) {
                proxy.rewriteFromSender(message -> message instanceof Wire.FormGroup f ? new Wire.FormGroup(f.version(),
                        f.epoch(), f.rank(), f.worldSize(), f.timeoutMillis(), relay.rendezvous(f.rendezvous())) : message);
                try (WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", proxy.port())
                        .token(SyncFixtures.TOKEN).commitMode(mode).scatterInto(destinations).join(Duration.ofSeconds(5))) {
                    for (long version = 1; version <= 3; version++) {
                        SyncFixtures.fill(plan, sources, version);
                        if (version == 2) {
                            relay.inject(DataRelay.Fault.FLIP_BYTE, DataRelay.offsetOf(plan, 1, 1, 100));
                        }
                        Future<Optional<UpdateReport>> received = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(20)));
                        long v = version;
                        if (version != 2) {
                            assertEquals(version, sender.publish(version, Duration.ofSeconds(20)).version());
                            assertEquals(version, received.get().orElseThrow().version());
                            assertNull(SyncFixtures.firstMismatch(plan, destinations, version));
                            assertEquals(new ReceiverState.Committed(version), receiver.state());
                            continue;
                        }
                        UpdateFailedException atSender = SyncFixtures.assertFails(FailureReason.CORRUPT_BUCKET,
                                () -> sender.publish(v, Duration.ofSeconds(20)));
                        assertEquals(1, atSender.failedRank(), atSender.getMessage());
                        UpdateFailedException atReceiver = SyncFixtures.assertFailure(FailureReason.CORRUPT_BUCKET,
                                assertThrows(ExecutionException.class, received::get).getCause());
                        assertTrue(atReceiver.getMessage().contains("bucket 1 of version 2 is corrupt"),
                                atReceiver.getMessage());
                        if (mode == CommitMode.IN_PLACE) {
                            ReceiverState.Torn torn = assertInstanceOf(ReceiverState.Torn.class, receiver.state());
                            assertEquals(1, torn.lastCommittedVersion());
                            assertEquals(2, torn.failedVersion());
                        } else {
                            assertEquals(new ReceiverState.Committed(1), receiver.state());
                            assertNull(SyncFixtures.firstMismatch(plan, destinations, 1), "still exactly version 1");
                        }
                        assertEquals(Optional.of(receiver.state()), atReceiver.receiverState());
                    }
                }
            }
        }
    }

    /**
     * A staged receiver whose application is still applying the first staged bucket when the sender gives up on the
     * update: it must not go on to commit (and acknowledge) what the sender aborted. It stops before the next bucket,
     * reports the sender's deadline, and its state is TORN, since the first bucket was applied.
     */
    @Test
    void a_staged_receiver_stops_applying_an_update_the_sender_aborted_and_reports_it_torn() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        Duration deadline = Duration.ofMillis(500);
        AtomicLong start = new AtomicLong();
        List<Integer> applied = new CopyOnWriteArrayList<>();
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                    .receivers(1).token(SyncFixtures.TOKEN).start();
                 WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                         .token(SyncFixtures.TOKEN).commitMode(CommitMode.STAGED).deliverTo(bucket -> {
                             applied.add(bucket.index());
                             if (bucket.index() == 0) { // slow: past the sender's deadline and the receiver's grace
                                 long until = start.get() + deadline.toNanos() + ReceiverControl.DEADLINE_GRACE_NANOS
                                         + TimeUnit.MILLISECONDS.toNanos(200);
                                 for (long left; (left = until - System.nanoTime()) > 0; ) {
                                     LockSupport.parkNanos(left);
                                 }
                             }
                         }).join(Duration.ofSeconds(5))) {
                Future<UpdateFailedException> atReceiver = pool.submit(
                        () -> assertThrows(UpdateFailedException.class, () -> receiver.awaitUpdate(Duration.ofSeconds(20))));
                start.set(System.nanoTime());
                SyncFixtures.assertFails(FailureReason.DEADLINE, () -> sender.publish(1, deadline));
                UpdateFailedException e = atReceiver.get(10, TimeUnit.SECONDS);
                SyncFixtures.assertFailure(FailureReason.DEADLINE, e);
                assertEquals(List.of(0), applied, "nothing applied after the sender's deadline");
                ReceiverState.Torn torn = assertInstanceOf(ReceiverState.Torn.class, receiver.state());
                assertEquals(1, torn.failedVersion());
                assertEquals(Optional.of(torn), e.receiverState());
            }
        }
    }

    /**
     * Unauthenticated peers that connect to the control port and say nothing: with every handshake place but one
     * held by them, a legitimate receiver still joins at once; a connection beyond the bound turns the oldest silent
     * one away with a typed BUSY, then closes it, so the bound holds and no newcomer is shut out.
     */
    @Test
    void idle_control_connections_do_not_keep_a_receiver_out_and_are_bounded() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        List<java.net.Socket> idle = new ArrayList<>();
        try (Arena arena = Arena.ofShared();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(1).token(SyncFixtures.TOKEN).ioTimeout(Duration.ofSeconds(20))
                     .handshakeTimeout(Duration.ofSeconds(60)).start()) {
            for (int i = 0; i < SenderControl.MAX_HANDSHAKES - 1; i++) {
                idle.add(new java.net.Socket("127.0.0.1", sender.port()));
            }
            try (WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                    .token(SyncFixtures.TOKEN).deliverTo(bucket -> { }).join(Duration.ofSeconds(5))) {
                assertEquals(plan.fingerprint(), receiver.plan().fingerprint());
                assertEquals(1, sender.connectedReceivers());
            }
            idle.add(new java.net.Socket("127.0.0.1", sender.port())); // takes the last handshake place
            try (java.net.Socket beyond = new java.net.Socket("127.0.0.1", sender.port())) {
                java.net.Socket oldest = idle.getFirst();
                oldest.setSoTimeout(10_000);
                java.io.DataInputStream in = new java.io.DataInputStream(oldest.getInputStream());
                Wire.Reject busy = assertInstanceOf(Wire.Reject.class, Wire.decode(in.readNBytes(in.readInt())));
                assertEquals(FailureReason.BUSY, busy.reason(), busy.message());
                assertEquals(-1, in.read(), "closed after the rejection");
                // The newcomer kept its place: its join request is answered.
                byte[] join = Wire.encode(new Wire.JoinRequest(Wire.PROTOCOL_VERSION, Tokens.bytes(SyncFixtures.TOKEN),
                        new byte[0], "beyond"));
                java.io.DataOutputStream out = new java.io.DataOutputStream(beyond.getOutputStream());
                out.writeInt(join.length);
                out.write(join);
                beyond.setSoTimeout(10_000);
                java.io.DataInputStream answer = new java.io.DataInputStream(beyond.getInputStream());
                assertInstanceOf(Wire.Welcome.class, Wire.decode(answer.readNBytes(answer.readInt())));
            }
        } finally {
            for (java.net.Socket socket : idle) {
                socket.close();
            }
        }
    }

    /**
     * join(timeout) bounds the whole join, not only the connect: a sender that accepts and never answers fails it
     * by the timeout (the I/O timeout is far longer); a WELCOME whose plan does not decode is the sender's protocol
     * error, naming the field; a timeout that is not positive is refused.
     */
    @Test
    void join_is_bounded_by_its_timeout_and_a_bad_plan_is_a_protocol_error() throws Exception {
        WeightReceiver.Builder builder = WeightReceiver.builder().token(SyncFixtures.TOKEN).deliverTo(bucket -> { })
                .ioTimeout(Duration.ofSeconds(30));
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 4, java.net.InetAddress.getLoopbackAddress())) {
            builder.sender("127.0.0.1", silent.getLocalPort());
            long start = System.nanoTime();
            assertThrows(ConnectionLostException.class, () -> builder.join(Duration.ofMillis(300)));
            long elapsed = System.nanoTime() - start;
            assertTrue(elapsed < TimeUnit.SECONDS.toNanos(5), "join gave up after " + elapsed / 1_000_000 + " ms");
        }
        assertThrows(IllegalArgumentException.class, () -> builder.join(Duration.ZERO));
        assertThrows(IllegalArgumentException.class, () -> builder.join(Duration.ofSeconds(-1)));

        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(1).token(SyncFixtures.TOKEN).start();
             ControlProxy proxy = new ControlProxy(sender.port())) {
            proxy.rewriteFromSender(message -> message instanceof Wire.Welcome w ? new Wire.Welcome(w.memberId(),
                    w.transport(), w.fingerprint(), java.util.Arrays.copyOf(w.plan(), w.plan().length / 2)) : message);
            builder.sender("127.0.0.1", proxy.port());
            ProtocolException e = assertThrows(ProtocolException.class, () -> builder.join(Duration.ofSeconds(5)));
            assertTrue(e.getMessage().startsWith("welcome.plan is not a valid bucket plan: field "), e.getMessage());
            assertInstanceOf(io.github.panamanccl.bucket.PlanFormatException.class, e.getCause());
        }
    }
}
