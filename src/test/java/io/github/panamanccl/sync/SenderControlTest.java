package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.PlanCodec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.EOFException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The sender's control plane and its update state machine, driven event by event on a fake clock with in-memory
 * links: no sockets, no threads, no sleeps. Each test plays the receivers and the publishing thread and asserts the
 * frames the sender sends and the attempt's phase and outcome.
 */
class SenderControlTest {
    private static final Duration IO_TIMEOUT = Duration.ofSeconds(9);
    private static final Duration HANDSHAKE = Duration.ofSeconds(2);
    private static final Duration DEADLINE = Duration.ofSeconds(30);
    private static final BucketPlan PLAN = SyncFixtures.plan(1);
    private static final byte[] FINGERPRINT = HexFormat.of().parseHex(PLAN.fingerprint());
    private static final byte[] RENDEZVOUS = {4, 2};

    private final MemoryLink.Fake clock = new MemoryLink.Fake();
    private final List<String> rejections = new ArrayList<>();
    private final SenderControl control = new SenderControl(clock, SyncOptions.DEFAULTS.withToken(SyncFixtures.TOKEN)
            .withIoTimeout(IO_TIMEOUT).withListener(new SyncListener() {
                @Override
                public void onJoinRejected(String peer, FailureReason reason, String message) {
                    rejections.add(peer + " " + reason + ": " + message);
                }
            }), 2, HANDSHAKE, PLAN, PlanCodec.encode(PLAN));
    private int connections;
    private long version;
    private long deadline;

    private MemoryLink connect() {
        MemoryLink link = new MemoryLink("/127.0.0.1:" + (40000 + ++connections), clock);
        control.onOpened(link);
        return link;
    }

    private static Wire.JoinRequest request(String name) {
        return new Wire.JoinRequest(Wire.PROTOCOL_VERSION, Tokens.bytes(SyncFixtures.TOKEN), FINGERPRINT, name);
    }

    /** A receiver that has joined and taken its place. */
    private MemoryLink member(String name) {
        MemoryLink link = connect();
        control.onFrame(link, request(name));
        Wire.Welcome welcome = link.takeOne(Wire.Welcome.class);
        assertArrayEquals(FINGERPRINT, welcome.fingerprint());
        assertEquals(PLAN, PlanCodec.decode(welcome.plan()));
        control.onFrame(link, new Wire.Accept());
        return link;
    }

    private Attempt start() {
        Attempt attempt = new Attempt(++version, UpdatePhase.AWAITING_RECEIVERS);
        deadline = clock.nanoTime() + DEADLINE.toNanos();
        control.start(attempt, deadline, DEADLINE);
        return attempt;
    }

    /** Lets {@code duration} pass in steps of at most a second; the {@code alive} receivers send heartbeats. */
    private void pass(Duration duration, MemoryLink... alive) {
        long end = clock.nanoTime() + duration.toNanos();
        while (end - clock.nanoTime() > 0) {
            clock.advance(Duration.ofNanos(Math.min(TimeUnit.SECONDS.toNanos(1), end - clock.nanoTime())));
            for (MemoryLink link : alive) {
                control.onFrame(link, new Wire.Heartbeat());
            }
            control.onTick(clock.nanoTime());
        }
    }

    /** Two members; an update that formed its group and announced BEGIN to both. */
    private record Announced(Attempt attempt, MemoryLink first, MemoryLink second, int epoch) {
    }

    private Announced announcedWithNewGroup() {
        MemoryLink first = member("a");
        MemoryLink second = member("b");
        Attempt attempt = start();
        assertEquals(UpdatePhase.FORMING_GROUP, attempt.phase());
        control.rendezvousOpened(attempt, RENDEZVOUS);
        Wire.FormGroup g1 = first.takeOne(Wire.FormGroup.class);
        Wire.FormGroup g2 = second.takeOne(Wire.FormGroup.class);
        control.onFrame(first, new Wire.GroupReady(attempt.version()));
        control.onFrame(second, new Wire.GroupReady(attempt.version()));
        control.rootFormed(attempt);
        assertEquals(UpdatePhase.ANNOUNCING, attempt.phase());
        first.takeOne(Wire.Begin.class);
        second.takeOne(Wire.Begin.class);
        assertEquals(g1.epoch(), g2.epoch());
        return new Announced(attempt, first, second, g1.epoch());
    }

    private Announced inPhase(UpdatePhase phase) {
        Announced a = announcedWithNewGroup();
        if (phase.compareTo(UpdatePhase.TRANSFER) >= 0) {
            control.onFrame(a.first(), new Wire.Ready(a.attempt().version()));
            control.onFrame(a.second(), new Wire.Ready(a.attempt().version()));
        }
        if (phase == UpdatePhase.ACKNOWLEDGING) {
            control.transferred(a.attempt());
        }
        assertEquals(phase, a.attempt().phase());
        return a;
    }

    // ---- joining ----

    @Test
    void a_receiver_with_the_token_gets_the_plan_and_takes_its_place_only_when_it_accepts_it() {
        MemoryLink link = connect();
        assertEquals(SenderControl.HANDSHAKE_FRAME_BYTES, link.maxFrameBytes(), "unauthenticated: small frames");
        control.onFrame(link, request("engine"));
        Wire.Welcome welcome = link.takeOne(Wire.Welcome.class);
        assertEquals("host-tcp", welcome.transport());
        assertEquals(64 << 20, link.maxFrameBytes(), "authenticated: the configured maximum");
        assertEquals(1, control.connectedReceivers(), "the place is reserved while the receiver checks the plan");
        Attempt attempt = start();
        member("second");
        assertEquals(UpdatePhase.AWAITING_RECEIVERS, attempt.phase(), "a reserved place is not a member yet");
        control.onFrame(link, new Wire.Accept());
        assertEquals(UpdatePhase.FORMING_GROUP, attempt.phase());
        assertTrue(rejections.isEmpty(), rejections.toString());
    }

    @Test
    void wrong_token_other_plan_other_protocol_and_a_wrong_first_frame_are_rejected_naming_why() {
        List<Wire.Message> firstFrames = List.of(
                new Wire.JoinRequest(Wire.PROTOCOL_VERSION, Tokens.bytes("wrong"), FINGERPRINT, "x"),
                new Wire.JoinRequest(Wire.PROTOCOL_VERSION, Tokens.bytes(SyncFixtures.TOKEN), new byte[32], "x"),
                new Wire.JoinRequest(1, Tokens.bytes(SyncFixtures.TOKEN), FINGERPRINT, "x"),
                new Wire.Ready(1));
        List<FailureReason> expected = List.of(FailureReason.WRONG_TOKEN, FailureReason.PLAN_MISMATCH,
                FailureReason.PROTOCOL, FailureReason.PROTOCOL);
        for (int i = 0; i < firstFrames.size(); i++) {
            MemoryLink link = connect();
            control.onFrame(link, firstFrames.get(i));
            Wire.Reject reject = link.takeOne(Wire.Reject.class);
            assertEquals(expected.get(i), reject.reason(), reject.message());
            assertTrue(link.closed());
        }
        assertEquals(4, rejections.size(), rejections.toString());
        assertTrue(rejections.get(1).contains("sender has plan " + PLAN.fingerprint()), rejections.get(1));
        assertTrue(rejections.get(2).contains("protocolVersion is 1, this sender speaks 2"), rejections.get(2));
        assertEquals(0, control.connectedReceivers());
    }

    @Test
    void a_frame_that_does_not_decode_is_answered_with_a_protocol_rejection() {
        MemoryLink link = connect();
        control.onLost(link, new FrameTooLargeException(1L << 31, SenderControl.HANDSHAKE_FRAME_BYTES));
        Wire.Reject reject = link.takeOne(Wire.Reject.class);
        assertEquals(FailureReason.PROTOCOL, reject.reason());
        assertEquals("control frame of 2147483648 bytes exceeds the maximum of 8192 bytes", reject.message());
        assertEquals(1, rejections.size());
    }

    @Test
    void a_third_receiver_finds_the_group_full_and_is_told_who_holds_the_places() {
        member("a");
        member("b");
        MemoryLink third = connect();
        control.onFrame(third, request("c"));
        Wire.Reject reject = third.takeOne(Wire.Reject.class);
        assertEquals(FailureReason.GROUP_FULL, reject.reason());
        assertTrue(reject.message().contains("'a' at ") && reject.message().contains("'b' at "), reject.message());
    }

    /** Retrying at once after a failed join never meets GROUP_FULL: the place is free the moment the join fails. */
    @Test
    void an_immediate_retry_after_a_failed_join_is_welcomed() {
        member("other");
        MemoryLink declining = connect();
        control.onFrame(declining, request("engine"));
        declining.takeOne(Wire.Welcome.class);
        control.onFrame(declining, new Wire.Reject(FailureReason.PLAN_MISMATCH, "no destination for tensor w"));
        assertTrue(declining.closed());
        assertEquals(List.of(declining.peer() + " PLAN_MISMATCH: the receiver declined: no destination for tensor w"),
                rejections);

        MemoryLink retry = connect();
        control.onFrame(retry, request("engine"));
        retry.takeOne(Wire.Welcome.class);
        control.onLost(retry, new EOFException("the receiver process died during its join"));

        MemoryLink again = connect();
        control.onFrame(again, request("engine"));
        again.takeOne(Wire.Welcome.class);
        control.onFrame(again, new Wire.Accept());
        assertEquals(2, control.connectedReceivers());
    }

    @Test
    void a_silent_connection_is_turned_away_busy_at_the_handshake_deadline_not_before() {
        MemoryLink silent = connect();
        assertEquals(clock.nanoTime() + HANDSHAKE.toNanos(), control.onTick(clock.nanoTime()), "the next deadline");
        clock.advance(HANDSHAKE.minusMillis(1));
        control.onTick(clock.nanoTime());
        assertFalse(silent.closed());
        clock.advanceMillis(1);
        control.onTick(clock.nanoTime());
        Wire.Reject busy = silent.takeOne(Wire.Reject.class);
        assertEquals(FailureReason.BUSY, busy.reason());
        assertTrue(busy.message().contains("handshake deadline of 2000 ms"), busy.message());
        assertTrue(silent.closed());
        assertTrue(rejections.isEmpty(), "a silent connection is not a refused join: " + rejections);
    }

    /** Beyond the bound a newcomer turns the oldest silent connection away, never a receiver that authenticated. */
    @Test
    void beyond_the_handshake_bound_the_oldest_silent_connection_makes_room_never_an_authenticated_one() {
        MemoryLink joining = connect();
        control.onFrame(joining, request("engine"));
        joining.takeOne(Wire.Welcome.class);
        List<MemoryLink> silent = new ArrayList<>();
        for (int i = 0; i < SenderControl.MAX_HANDSHAKES; i++) {
            silent.add(connect());
        }
        assertTrue(silent.stream().noneMatch(MemoryLink::closed));
        MemoryLink newcomer = connect();
        assertEquals(FailureReason.BUSY, silent.getFirst().takeOne(Wire.Reject.class).reason());
        assertTrue(silent.getFirst().closed());
        assertTrue(silent.subList(1, silent.size()).stream().noneMatch(MemoryLink::closed));
        assertFalse(joining.closed());
        control.onFrame(newcomer, request("late"));
        newcomer.takeOne(Wire.Welcome.class);
        control.onFrame(joining, new Wire.Accept());
        assertEquals(2, control.connectedReceivers());
    }

    // ---- the update's transitions ----

    @Test
    void an_update_goes_through_every_phase_and_succeeds_once_every_receiver_acknowledged() {
        Announced a = announcedWithNewGroup();
        Attempt attempt = a.attempt();
        control.onFrame(a.first(), new Wire.Ready(attempt.version()));
        assertEquals(UpdatePhase.ANNOUNCING, attempt.phase(), "one READY of two");
        control.onFrame(a.second(), new Wire.Ready(attempt.version()));
        assertEquals(UpdatePhase.TRANSFER, attempt.phase());
        control.onFrame(a.first(), new Wire.Done(attempt.version())); // may come before the broadcast returns
        control.onFrame(a.second(), new Wire.Done(attempt.version()));
        assertEquals(UpdatePhase.TRANSFER, attempt.phase());
        control.transferred(attempt);
        assertTrue(attempt.succeeded());
        a.first().assertQuiet();
        a.second().assertQuiet();
    }

    @Test
    void the_group_forms_with_ranks_in_join_order_and_the_time_left_rounded_up() {
        MemoryLink first = member("a");
        MemoryLink second = member("b");
        Attempt attempt = start();
        clock.advance(Duration.ofNanos(1_500_000)); // 1.5 ms pass before the rendezvous is open
        control.rendezvousOpened(attempt, RENDEZVOUS);
        Wire.FormGroup g1 = first.takeOne(Wire.FormGroup.class);
        Wire.FormGroup g2 = second.takeOne(Wire.FormGroup.class);
        assertEquals(List.of(1, 2, 3, 3), List.of(g1.rank(), g2.rank(), g1.worldSize(), g2.worldSize()));
        assertEquals(DEADLINE.toMillis() - 1, g1.timeoutMillis(), "28.5 ms left round up to 29");
        assertArrayEquals(RENDEZVOUS, g1.rendezvous());
        assertEquals(attempt.version(), g1.version());
        control.rootFormed(attempt);
        control.onFrame(first, new Wire.GroupReady(attempt.version()));
        assertEquals(UpdatePhase.FORMING_GROUP, attempt.phase(), "receiver b has not joined the group yet");
        control.onFrame(second, new Wire.GroupReady(attempt.version() - 1)); // stale: another update's
        assertEquals(UpdatePhase.FORMING_GROUP, attempt.phase());
        control.onFrame(second, new Wire.GroupReady(attempt.version()));
        Wire.Begin begin = first.takeOne(Wire.Begin.class);
        assertEquals(g1.epoch(), begin.epoch());
        assertArrayEquals(FINGERPRINT, begin.fingerprint());
    }

    @Test
    void the_next_update_reuses_an_intact_group_and_a_changed_membership_forms_a_new_one() {
        Announced a = inPhase(UpdatePhase.ACKNOWLEDGING);
        control.onFrame(a.first(), new Wire.Done(a.attempt().version()));
        control.onFrame(a.second(), new Wire.Done(a.attempt().version()));
        assertTrue(a.attempt().succeeded());

        Attempt reused = start();
        assertEquals(UpdatePhase.ANNOUNCING, reused.phase(), "no formation: the same receivers hold the group");
        assertEquals(a.epoch(), a.first().takeOne(Wire.Begin.class).epoch());
        a.second().take();
        control.onFrame(a.first(), new Wire.Failed(reused.version(), FailureReason.APPLICATION_ERROR, "consumer"));
        assertEquals(FailureReason.APPLICATION_ERROR, reused.failure().reason());

        assertEquals(FailureReason.APPLICATION_ERROR, a.first().takeOne(Wire.Abort.class).reason());
        Attempt afterFailure = start();
        assertEquals(UpdatePhase.FORMING_GROUP, afterFailure.phase(), "a failed update's group is not reused");
        control.rendezvousOpened(afterFailure, RENDEZVOUS);
        assertEquals(a.epoch() + 1, a.first().takeOne(Wire.FormGroup.class).epoch());
    }

    @Test
    void a_late_joiner_fills_the_last_place_and_the_update_goes_on() {
        MemoryLink early = member("early");
        Attempt attempt = start();
        pass(Duration.ofSeconds(10), early);
        assertEquals(UpdatePhase.AWAITING_RECEIVERS, attempt.phase());
        member("late");
        assertEquals(UpdatePhase.FORMING_GROUP, attempt.phase());
    }

    @Test
    void replies_for_another_version_are_ignored() {
        Announced a = announcedWithNewGroup();
        long other = a.attempt().version() + 1;
        control.onFrame(a.first(), new Wire.Ready(other));
        control.onFrame(a.second(), new Wire.Ready(other));
        control.onFrame(a.first(), new Wire.Failed(other, FailureReason.DEADLINE, "old news"));
        assertEquals(UpdatePhase.ANNOUNCING, a.attempt().phase());
        assertFalse(a.attempt().settled());
    }

    // ---- failures in every phase ----

    @ParameterizedTest
    @EnumSource(value = UpdatePhase.class, names = {"FORMING_GROUP", "ANNOUNCING", "TRANSFER", "ACKNOWLEDGING"})
    void a_receiver_lost_in_any_phase_fails_the_update_naming_it_and_the_other_receiver_is_told(UpdatePhase phase) {
        Announced a = phase == UpdatePhase.FORMING_GROUP ? forming() : inPhase(phase);
        control.onLost(a.second(), new EOFException("connection closed by peer"));
        Failure f = a.attempt().failure();
        assertEquals(FailureReason.PEER_LOST, f.reason());
        assertEquals(2, f.rank());
        assertEquals(phase, f.phase());
        assertTrue(f.message().startsWith("receiver rank 2 'b' at "), f.message());
        Wire.Abort abort = a.first().takeOne(Wire.Abort.class);
        assertEquals(List.of(a.attempt().version(), 2L), List.of(abort.version(), (long) abort.failedRank()));
        assertEquals(FailureReason.PEER_LOST, abort.reason());
        assertEquals(f.message(), abort.message());
    }

    private Announced forming() {
        MemoryLink first = member("a");
        MemoryLink second = member("b");
        Attempt attempt = start();
        control.rendezvousOpened(attempt, RENDEZVOUS);
        first.take();
        second.take();
        return new Announced(attempt, first, second, 1);
    }

    @Test
    void a_receiver_lost_while_receivers_are_awaited_frees_its_place_and_is_remembered() {
        member("a");
        MemoryLink leaving = member("b-leaving");
        control.onLost(leaving, new EOFException("connection closed by peer"));
        member("c");
        MemoryLink gone = connect();
        control.onFrame(gone, request("d"));
        assertEquals(FailureReason.GROUP_FULL, gone.takeOne(Wire.Reject.class).reason(), "c took b's place");
    }

    @ParameterizedTest
    @EnumSource(value = UpdatePhase.class, names = {"TRANSFER", "ACKNOWLEDGING"})
    void a_receiver_that_acknowledged_may_leave_without_failing_the_update(UpdatePhase phase) {
        Announced a = inPhase(phase);
        control.onFrame(a.second(), new Wire.Done(a.attempt().version()));
        control.onLost(a.second(), new EOFException("the engine restarted"));
        assertNull(a.attempt().failure());
        if (phase == UpdatePhase.TRANSFER) {
            control.transferred(a.attempt());
        }
        control.onFrame(a.first(), new Wire.Done(a.attempt().version()));
        assertTrue(a.attempt().succeeded());
    }

    @Test
    void the_deadline_while_awaiting_receivers_names_the_missing_one_and_why_it_is_missing() {
        MemoryLink present = member("present");
        MemoryLink declining = connect();
        control.onFrame(declining, request("misfit"));
        control.onFrame(declining, new Wire.Reject(FailureReason.PLAN_MISMATCH, "destination for tensor w has 2 bytes"));
        Attempt attempt = start();
        pass(DEADLINE, present);
        Failure f = attempt.failure();
        assertEquals(FailureReason.DEADLINE, f.reason());
        assertEquals(UpdatePhase.AWAITING_RECEIVERS, f.phase());
        assertTrue(f.message().startsWith("deadline of PT30S passed: only 1 of 2 receivers are connected ('present' at "),
                f.message());
        assertTrue(f.message().contains("1 missing; recently: receiver 'misfit' at /127.0.0.1:40002 declined the plan "
                + "(PLAN_MISMATCH): destination for tensor w has 2 bytes"), f.message());
    }

    @ParameterizedTest
    @EnumSource(value = UpdatePhase.class, names = {"FORMING_GROUP", "ANNOUNCING", "TRANSFER", "ACKNOWLEDGING"})
    void the_deadline_in_any_phase_fails_the_update_at_that_moment_naming_what_it_waited_for(UpdatePhase phase) {
        Announced a = phase == UpdatePhase.FORMING_GROUP ? forming() : inPhase(phase);
        if (phase == UpdatePhase.FORMING_GROUP) {
            control.onFrame(a.first(), new Wire.GroupReady(a.attempt().version()));
            control.rootFormed(a.attempt());
        } else if (phase == UpdatePhase.ANNOUNCING) {
            control.onFrame(a.first(), new Wire.Ready(a.attempt().version()));
        } else if (phase == UpdatePhase.ACKNOWLEDGING) {
            control.onFrame(a.first(), new Wire.Done(a.attempt().version()));
        }
        pass(Duration.ofNanos(deadline - clock.nanoTime() - 1), a.first(), a.second());
        assertNull(a.attempt().failure(), "not before the deadline");
        pass(Duration.ofNanos(1), a.first(), a.second());
        Failure f = a.attempt().failure();
        assertEquals(FailureReason.DEADLINE, f.reason());
        assertEquals(phase, f.phase());
        String waited = switch (phase) {
            case FORMING_GROUP -> "receiver rank 2 'b' at /127.0.0.1:40002 did not report the transport group ready";
            case ANNOUNCING -> "receiver rank 2 'b' at /127.0.0.1:40002 did not answer READY";
            case TRANSFER -> "the buckets were not all broadcast";
            default -> "receiver rank 2 'b' at /127.0.0.1:40002 did not acknowledge (DONE)";
        };
        assertEquals("deadline of PT30S passed: " + waited, f.message());
        assertEquals(phase == UpdatePhase.TRANSFER ? UpdateFailedException.UNKNOWN_RANK : 2, f.rank());
        for (MemoryLink link : List.of(a.first(), a.second())) {
            assertEquals(FailureReason.DEADLINE, link.takeOne(Wire.Abort.class).reason());
        }
    }

    @Test
    void a_rendezvous_that_never_opens_is_named_at_the_deadline() {
        MemoryLink a = member("a");
        MemoryLink b = member("b");
        Attempt attempt = start();
        pass(DEADLINE, a, b);
        assertEquals("deadline of PT30S passed: the rendezvous of the transport group did not open",
                attempt.failure().message());
    }

    @Test
    void a_receiver_that_cannot_join_the_group_fails_the_update_at_once_with_its_reason() {
        Announced a = forming();
        control.onFrame(a.second(), new Wire.Failed(a.attempt().version(), FailureReason.GROUP_FAILED,
                "rendezvous has 1 bytes"));
        Failure f = a.attempt().failure();
        assertEquals(FailureReason.GROUP_FAILED, f.reason());
        assertEquals(2, f.rank());
        assertTrue(f.message().endsWith("could not join the transport group: rendezvous has 1 bytes"), f.message());
        assertEquals(FailureReason.GROUP_FAILED, a.first().takeOne(Wire.Abort.class).reason());
        assertEquals(FailureReason.GROUP_FAILED, a.second().takeOne(Wire.Abort.class).reason());
    }

    @Test
    void a_receiver_on_another_plan_fails_the_update_as_a_plan_mismatch_before_any_transfer() {
        Announced a = announcedWithNewGroup();
        control.onFrame(a.first(), new Wire.Failed(a.attempt().version(), FailureReason.PLAN_MISMATCH, "plan x"));
        assertEquals(FailureReason.PLAN_MISMATCH, a.attempt().failure().reason());
        assertEquals(UpdatePhase.ANNOUNCING, a.attempt().failure().phase());
        assertEquals(1, a.attempt().failure().rank());
    }

    @Test
    void a_data_plane_failure_is_told_to_every_receiver_and_the_group_is_not_reused() {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        control.dataPlaneFailed(a.attempt(), new Failure(FailureReason.PEER_LOST, 2, null, "broken pipe to rank 2",
                null));
        pass(Duration.ofNanos(SenderUpdate.PEER_WORD_WAIT_NANOS), a.first(), a.second());
        assertEquals(FailureReason.PEER_LOST, a.attempt().failure().reason());
        assertEquals("broken pipe to rank 2", a.first().takeOne(Wire.Abort.class).message());
        a.second().take();
        assertEquals(UpdatePhase.FORMING_GROUP, start().phase());
    }

    /**
     * NCCL's ncclRemoteError names no rank and usually comes a few ms before the control plane's word that does: the
     * update waits for that word and fails naming the rank, whichever word it is.
     */
    @ParameterizedTest
    @EnumSource(value = FailureReason.class, names = {"PEER_LOST", "LOCAL_ERROR"})
    void a_peer_failure_naming_no_rank_waits_for_the_failure_that_names_the_rank(FailureReason named) {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        control.dataPlaneFailed(a.attempt(), unnamedPeerFailure());
        pass(Duration.ofMillis(20), a.first(), a.second());
        assertNull(a.attempt().failure(), "held for a failure that names the rank");
        a.first().assertQuiet();
        if (named == FailureReason.PEER_LOST) {
            control.onLost(a.second(), new EOFException("killed"));
        } else {
            control.onFrame(a.second(), new Wire.Failed(a.attempt().version(), named, "cudaErrorIllegalAddress"));
        }
        Failure f = a.attempt().failure();
        assertEquals(List.of(named, 2, UpdatePhase.TRANSFER), List.of(f.reason(), f.rank(), f.phase()), f.message());
        Wire.Abort abort = a.first().takeOne(Wire.Abort.class);
        assertEquals(List.of(named, 2), List.of(abort.reason(), abort.failedRank()));
    }

    /**
     * A receiver that fails closes its data connection, so the sender's write to it breaks a moment before its FAILED
     * arrives: the update fails with the receiver's own reason, not as a lost peer.
     */
    @Test
    void a_broken_pipe_to_a_receiver_that_reports_its_failure_fails_the_update_with_its_reason() {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        control.dataPlaneFailed(a.attempt(), new Failure(FailureReason.PEER_LOST, 2, null, "broken pipe to rank 2",
                null));
        pass(Duration.ofMillis(5), a.first(), a.second());
        assertNull(a.attempt().failure(), "held for the receiver's word");
        control.onFrame(a.second(), new Wire.Failed(a.attempt().version(), FailureReason.APPLICATION_ERROR,
                "listener threw"));
        Failure f = a.attempt().failure();
        assertEquals(List.of(FailureReason.APPLICATION_ERROR, 2), List.of(f.reason(), f.rank()), f.message());
        assertEquals(FailureReason.APPLICATION_ERROR, a.first().takeOne(Wire.Abort.class).reason());
    }

    @Test
    void a_peer_failure_naming_no_rank_stands_after_half_a_second_without_a_named_one() {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        control.dataPlaneFailed(a.attempt(), unnamedPeerFailure());
        long waitUntil = clock.nanoTime() + SenderUpdate.PEER_WORD_WAIT_NANOS;
        assertEquals(waitUntil, control.onTick(clock.nanoTime()), "the loop wakes when the wait is over");
        pass(Duration.ofNanos(SenderUpdate.PEER_WORD_WAIT_NANOS - 1), a.first(), a.second());
        assertNull(a.attempt().failure());
        pass(Duration.ofNanos(1), a.first(), a.second());
        Failure f = a.attempt().failure();
        assertEquals(List.of(FailureReason.PEER_LOST, UpdateFailedException.UNKNOWN_RANK), List.of(f.reason(),
                f.rank()));
        assertEquals("waiting for the broadcast failed: ncclRemoteError", a.first().takeOne(Wire.Abort.class)
                .message());
    }

    @Test
    void a_peer_failure_naming_no_rank_waits_no_later_than_the_deadline() {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        pass(Duration.ofNanos(deadline - clock.nanoTime() - TimeUnit.MILLISECONDS.toNanos(100)), a.first(),
                a.second());
        control.dataPlaneFailed(a.attempt(), unnamedPeerFailure());
        pass(Duration.ofMillis(100), a.first(), a.second());
        assertEquals(FailureReason.PEER_LOST, a.attempt().failure().reason(), "the data plane's failure, at the "
                + "deadline: " + a.attempt().failure().message());
    }

    private static Failure unnamedPeerFailure() {
        return new Failure(FailureReason.PEER_LOST, UpdateFailedException.UNKNOWN_RANK, null,
                "waiting for the broadcast failed: ncclRemoteError", null);
    }

    /** A failure recorded by another thread (an interrupted publish) still reaches the receivers. */
    @Test
    void a_failure_recorded_by_the_publishing_thread_is_told_to_every_receiver() {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        a.attempt().fail(new Failure(FailureReason.LOCAL_ERROR, 0, null, "interrupted", null));
        control.dataPlaneFailed(a.attempt(), new Failure(FailureReason.PEER_LOST, 2, null, "later", null));
        Wire.Abort abort = a.first().takeOne(Wire.Abort.class);
        assertEquals(List.of(FailureReason.LOCAL_ERROR, "interrupted"), List.of(abort.reason(), abort.message()));
    }

    /**
     * Whoever sees the failure first, the receivers' ABORT is on its way before the group is aborted (and with it
     * their data connections closed), so a receiver learns the root cause, not only that its data connection ended.
     */
    @ParameterizedTest
    @EnumSource(value = FailureReason.class, names = {"PEER_LOST", "DEADLINE", "APPLICATION_ERROR", "CORRUPT_BUCKET"})
    void receivers_are_told_before_the_group_is_aborted(FailureReason seen) {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        List<Wire.Message> toldBeforeAbort = new ArrayList<>();
        a.attempt().attach(() -> toldBeforeAbort.addAll(a.second().take()));
        switch (seen) {
            case PEER_LOST -> control.onLost(a.first(), new EOFException("killed"));
            case DEADLINE -> pass(Duration.ofNanos(deadline - clock.nanoTime()), a.first(), a.second());
            case APPLICATION_ERROR -> control.onFrame(a.first(), new Wire.Failed(a.attempt().version(), seen, "x"));
            default -> control.dataPlaneFailed(a.attempt(), new Failure(seen, 1, null, "crc", null));
        }
        assertEquals(seen, a.attempt().failure().reason());
        assertEquals(seen, toldBeforeAbort.stream().filter(m -> m instanceof Wire.Abort).map(m -> ((Wire.Abort) m)
                .reason()).findFirst().orElseThrow(() -> new AssertionError("aborted before telling: "
                + toldBeforeAbort)));
    }

    // ---- heartbeats and the silence rule ----

    @Test
    void an_idle_member_hears_heartbeats_and_one_that_goes_silent_is_lost() {
        Announced a = announcedWithNewGroup();
        Duration third = IO_TIMEOUT.dividedBy(3);
        clock.advance(third);
        control.onFrame(a.first(), new Wire.Heartbeat());
        control.onTick(clock.nanoTime());
        assertEquals(List.of(new Wire.Heartbeat()), a.first().take());
        clock.advance(IO_TIMEOUT.minus(third));
        control.onTick(clock.nanoTime());
        assertFalse(a.first().closed(), "heard from a third into the timeout");
        assertTrue(a.second().closed(), "silent for the whole I/O timeout");
        Failure f = a.attempt().failure();
        assertEquals(FailureReason.PEER_LOST, f.reason());
        assertEquals(2, f.rank());
        assertTrue(f.message().contains("its connection is silent for 9000 ms"), f.message());
    }

    /** A heartbeat to a peer that does not read never blocks the sender; the peer is dropped after the I/O timeout. */
    @Test
    void a_member_that_does_not_read_is_dropped_after_the_io_timeout_while_it_still_sends() {
        Announced a = inPhase(UpdatePhase.TRANSFER);
        a.second().stopReading();
        pass(Duration.ofSeconds(3), a.first(), a.second()); // it writes, it just does not read
        assertEquals(1, a.second().take().size(), "the heartbeat that is not read");
        pass(IO_TIMEOUT.minusNanos(1), a.first(), a.second());
        assertFalse(a.second().closed(), "not before the I/O timeout");
        pass(Duration.ofNanos(1), a.first(), a.second());
        assertTrue(a.second().closed());
        Failure f = a.attempt().failure();
        assertEquals(FailureReason.PEER_LOST, f.reason());
        assertTrue(f.message().contains("has not taken what was sent to it for"), f.message());
        assertFalse(a.first().closed());
    }

    // ---- close at any point ----

    @ParameterizedTest
    @EnumSource(value = UpdatePhase.class, names = "COMMITTING", mode = EnumSource.Mode.EXCLUDE) // a receiver's
    void closing_at_any_point_fails_the_update_as_closed_and_tells_its_receivers(UpdatePhase phase) {
        Attempt attempt;
        List<MemoryLink> told = new ArrayList<>();
        if (phase == UpdatePhase.AWAITING_RECEIVERS) {
            member("only");
            attempt = start();
        } else {
            Announced a = phase == UpdatePhase.FORMING_GROUP ? forming() : inPhase(phase);
            attempt = a.attempt();
            told.add(a.first());
            told.add(a.second());
        }
        MemoryLink handshaking = connect();
        control.onStop();
        Failure f = attempt.failure();
        assertEquals(FailureReason.CLOSED, f.reason());
        assertEquals(phase == UpdatePhase.AWAITING_RECEIVERS
                ? "the sender was closed while the update waited for receivers (1 of 2 connected)"
                : "the sender was closed during the update", f.message());
        for (MemoryLink link : told) {
            assertEquals(FailureReason.CLOSED, link.takeOne(Wire.Abort.class).reason());
            assertTrue(link.closed());
        }
        assertTrue(handshaking.closed());
        Attempt later = new Attempt(99, UpdatePhase.AWAITING_RECEIVERS);
        control.start(later, clock.nanoTime() + DEADLINE.toNanos(), DEADLINE);
        assertEquals(FailureReason.CLOSED, later.failure().reason(), "a publish after close fails at once");
        MemoryLink afterClose = connect();
        assertEquals(FailureReason.CLOSED, afterClose.takeOne(Wire.Reject.class).reason());
    }

    @Test
    void a_member_that_sends_what_only_a_sender_sends_is_dropped_with_a_protocol_rejection() {
        Announced a = announcedWithNewGroup();
        control.onFrame(a.first(), new Wire.Begin(1, 1, FINGERPRINT, 5));
        assertEquals(FailureReason.PROTOCOL, a.first().takeOne(Wire.Reject.class).reason());
        assertTrue(a.first().closed());
        assertEquals(FailureReason.PEER_LOST, a.attempt().failure().reason());
        assertTrue(a.attempt().failure().message().contains("sent Begin, which only a sender sends"),
                a.attempt().failure().message());
    }
}
