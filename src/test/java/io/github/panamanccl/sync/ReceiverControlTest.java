package io.github.panamanccl.sync;

import org.junit.jupiter.api.Test;

import java.io.EOFException;
import java.net.ConnectException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The receiver's control plane, driven event by event on a fake clock with an in-memory link: the join, the work it
 * hands to the application thread (created with its attempt on arrival), ABORTs racing what they abort, the
 * receiver's own deadline, heartbeats and the silence rule, and close at any point. No sockets, threads or sleeps.
 */
class ReceiverControlTest {
    private static final Duration IO_TIMEOUT = Duration.ofSeconds(9);
    private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(5);
    private static final byte[] FINGERPRINT = HexFormat.of().parseHex(SyncFixtures.plan(1).fingerprint());
    private static final long GRACE_MILLIS = TimeUnit.NANOSECONDS.toMillis(ReceiverControl.DEADLINE_GRACE_NANOS);

    private final MemoryLink.Fake clock = new MemoryLink.Fake();
    private final Wire.JoinRequest request = new Wire.JoinRequest(Wire.PROTOCOL_VERSION, Tokens.bytes(SyncFixtures.TOKEN),
            new byte[0], "engine");
    private final ReceiverControl control = new ReceiverControl(clock, SyncOptions.DEFAULTS
            .withToken(SyncFixtures.TOKEN).withIoTimeout(IO_TIMEOUT).withMaxFrameBytes(1 << 20, 1024),
            "trainer:29500", request, JOIN_TIMEOUT);
    private final MemoryLink link = new MemoryLink("trainer:29500", clock);

    private void joined() {
        control.onOpened(link);
        link.takeOne(Wire.JoinRequest.class);
        control.onFrame(link, new Wire.Welcome(3, "host-tcp", FINGERPRINT, new byte[] {1}));
        control.awaitWelcome();
    }

    private ReceiverControl.Work next() {
        try {
            return control.nextWork(0);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }

    private static Wire.FormGroup formGroup(long version, long timeoutMillis) {
        return new Wire.FormGroup(version, 1, 1, 2, timeoutMillis, new byte[] {7});
    }

    private static Wire.Begin begin(long version, long deadlineMillis) {
        return new Wire.Begin(1, version, FINGERPRINT, deadlineMillis);
    }

    /** Lets {@code duration} pass in steps of a second, the sender sending heartbeats. */
    private void pass(Duration duration) {
        long end = clock.nanoTime() + duration.toNanos();
        while (end - clock.nanoTime() > 0) {
            clock.advance(Duration.ofNanos(Math.min(TimeUnit.SECONDS.toNanos(1), end - clock.nanoTime())));
            control.onFrame(link, new Wire.Heartbeat());
            control.onTick(clock.nanoTime());
        }
    }

    // ---- joining ----

    @Test
    void the_join_request_goes_out_on_connect_and_the_welcome_completes_the_join() {
        control.onOpened(link);
        Wire.JoinRequest sent = link.takeOne(Wire.JoinRequest.class);
        assertEquals(Wire.PROTOCOL_VERSION, sent.protocolVersion());
        assertArrayEquals(Tokens.bytes(SyncFixtures.TOKEN), sent.token());
        assertEquals("engine", sent.name());
        assertEquals(1 << 20, link.maxFrameBytes(), "the WELCOME carries the plan: up to the configured maximum");
        Wire.Welcome welcome = new Wire.Welcome(3, "host-tcp", FINGERPRINT, new byte[] {1});
        control.onFrame(link, welcome);
        assertSame(welcome, control.awaitWelcome());
        assertEquals(Wire.MAX_SMALL_FRAME_BYTES, link.maxFrameBytes(), "after the plan, every frame is small");
        control.send(new Wire.Accept());
        assertEquals(new Wire.Accept(), link.takeOne(Wire.Accept.class));
    }

    @Test
    void a_refused_join_throws_the_sender_s_reason() {
        control.onOpened(link);
        control.onFrame(link, new Wire.Reject(FailureReason.BUSY, "256 connections were handshaking"));
        JoinRejectedException e = assertThrows(JoinRejectedException.class, control::awaitWelcome);
        assertEquals(FailureReason.BUSY, e.reason());
        assertTrue(e.getMessage().contains("256 connections were handshaking. Retry the join."), e.getMessage());
        assertTrue(link.closed());
    }

    @Test
    void a_sender_that_does_not_answer_fails_the_join_at_its_timeout_not_before() {
        control.onOpened(link);
        clock.advance(JOIN_TIMEOUT.minusNanos(1));
        control.onTick(clock.nanoTime());
        assertFalse(link.closed());
        clock.advance(Duration.ofNanos(1));
        control.onTick(clock.nanoTime());
        ConnectionLostException e = assertThrows(ConnectionLostException.class, control::awaitWelcome);
        assertEquals("sender trainer:29500 did not answer the join within PT5S", e.getMessage());
        assertTrue(link.closed());
    }

    @Test
    void a_sender_that_cannot_be_reached_fails_the_join_naming_it() {
        control.onLost(link, new ConnectException("Connection refused"));
        ConnectionLostException e = assertThrows(ConnectionLostException.class, control::awaitWelcome);
        assertTrue(e.getMessage().startsWith("cannot connect to sender trainer:29500: "), e.getMessage());
    }

    @Test
    void a_malformed_or_oversize_answer_fails_the_join_as_a_protocol_error_and_the_sender_hears_why() {
        control.onOpened(link);
        link.take();
        control.onLost(link, new FrameTooLargeException(1L << 30, 1 << 20));
        FrameTooLargeException e = assertThrows(FrameTooLargeException.class, control::awaitWelcome);
        assertEquals(1 << 20, e.maxBytes());
        assertEquals(FailureReason.PROTOCOL, link.takeOne(Wire.Reject.class).reason());

        ReceiverControl other = new ReceiverControl(clock, SyncOptions.DEFAULTS.withToken(SyncFixtures.TOKEN),
                "trainer:29500", request, JOIN_TIMEOUT);
        MemoryLink second = new MemoryLink("trainer:29500", clock);
        other.onOpened(second);
        other.onFrame(second, new Wire.Ready(1));
        ProtocolException wrong = assertThrows(ProtocolException.class, other::awaitWelcome);
        assertEquals("expected Welcome, got Ready", wrong.getMessage());
    }

    // ---- work, created with its attempt on arrival ----

    @Test
    void a_group_request_and_its_begin_share_one_attempt_and_carry_their_deadlines() {
        joined();
        long arrival = clock.nanoTime();
        control.onFrame(link, formGroup(5, 2000));
        ReceiverControl.JoinGroup join = assertInstanceOf(ReceiverControl.JoinGroup.class, next());
        assertEquals(5, join.attempt().version());
        assertEquals(UpdatePhase.FORMING_GROUP, join.attempt().phase());
        assertEquals(arrival + TimeUnit.MILLISECONDS.toNanos(2000) + ReceiverControl.DEADLINE_GRACE_NANOS,
                join.deadline());
        clock.advanceMillis(300);
        control.onFrame(link, begin(5, 1700));
        ReceiverControl.RunUpdate run = assertInstanceOf(ReceiverControl.RunUpdate.class, next());
        assertSame(join.attempt(), run.attempt(), "one attempt from the group request to the update's end");
        assertEquals(UpdatePhase.ANNOUNCING, run.attempt().phase());
        assertEquals(clock.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1700) + ReceiverControl.DEADLINE_GRACE_NANOS,
                run.deadline());
        assertNull(next());
    }

    @Test
    void an_update_over_a_reused_group_gets_an_attempt_of_its_own() {
        joined();
        control.onFrame(link, begin(8, 1000));
        ReceiverControl.RunUpdate run = assertInstanceOf(ReceiverControl.RunUpdate.class, next());
        assertEquals(8, run.attempt().version());
        assertEquals(UpdatePhase.ANNOUNCING, run.attempt().phase());
    }

    /** An ABORT right behind its BEGIN fails the update before the application starts it: it is never lost. */
    @Test
    void an_abort_racing_its_begin_fails_the_update_before_the_application_takes_it() {
        joined();
        control.onFrame(link, begin(4, 1000));
        control.onFrame(link, new Wire.Abort(4, FailureReason.DEADLINE, 2, "receiver rank 2 did not answer READY"));
        ReceiverControl.RunUpdate run = assertInstanceOf(ReceiverControl.RunUpdate.class, next());
        Failure f = run.attempt().failure();
        assertSame(run.attempt().notice(), f, "the sender's reason stands");
        assertEquals(FailureReason.DEADLINE, f.reason());
        assertEquals(2, f.rank());
        assertEquals(UpdatePhase.ANNOUNCING, f.phase());
        assertEquals("sender aborted: receiver rank 2 did not answer READY", f.message());
    }

    @Test
    void an_abort_racing_its_group_request_fails_the_formation_before_it_begins() {
        joined();
        control.onFrame(link, formGroup(6, 1000));
        control.onFrame(link, new Wire.Abort(6, FailureReason.PEER_LOST, 1, "rank 1 died"));
        ReceiverControl.JoinGroup join = assertInstanceOf(ReceiverControl.JoinGroup.class, next());
        assertEquals(FailureReason.PEER_LOST, join.attempt().failure().reason());
        assertEquals(UpdatePhase.FORMING_GROUP, join.attempt().failure().phase());
    }

    @Test
    void an_abort_of_another_version_is_ignored() {
        joined();
        control.onFrame(link, begin(4, 1000));
        control.onFrame(link, new Wire.Abort(3, FailureReason.DEADLINE, -1, "an older update"));
        assertNull(assertInstanceOf(ReceiverControl.RunUpdate.class, next()).attempt().failure());
    }

    /** A version names one content: a sender announcing one twice breaks the protocol, and the receiver leaves. */
    @Test
    void a_version_announced_twice_ends_the_connection_as_a_protocol_error() {
        joined();
        control.onFrame(link, begin(4, 1000));
        assertInstanceOf(ReceiverControl.RunUpdate.class, next()).attempt().succeed();
        control.onFrame(link, formGroup(4, 1000));
        Wire.Reject reject = link.takeOne(Wire.Reject.class);
        assertEquals(FailureReason.PROTOCOL, reject.reason());
        assertEquals("formGroup.version 4 was announced before (the last was 4)", reject.message());
        ReceiverControl.Disconnected gone = assertInstanceOf(ReceiverControl.Disconnected.class, next());
        assertInstanceOf(ProtocolException.class, gone.exception());
        assertTrue(link.closed());
    }

    // ---- the receiver's own deadline ----

    @Test
    void an_update_the_sender_never_settles_fails_at_its_deadline_plus_the_grace_not_before() {
        joined();
        control.onFrame(link, begin(2, 5000));
        ReceiverControl.RunUpdate run = assertInstanceOf(ReceiverControl.RunUpdate.class, next());
        pass(Duration.ofMillis(5000 + GRACE_MILLIS).minusNanos(1));
        assertNull(run.attempt().failure());
        pass(Duration.ofNanos(1));
        Failure f = run.attempt().failure();
        assertEquals(FailureReason.DEADLINE, f.reason());
        assertEquals("the sender's deadline of 5000 ms passed 1000 ms ago without word from the sender", f.message());
        assertNull(run.attempt().notice(), "this receiver's own failure: it reports it to the sender");
    }

    @Test
    void a_settled_update_is_not_failed_by_its_deadline() {
        joined();
        control.onFrame(link, begin(2, 100));
        Attempt attempt = assertInstanceOf(ReceiverControl.RunUpdate.class, next()).attempt();
        assertTrue(attempt.succeed());
        pass(Duration.ofSeconds(3));
        assertTrue(attempt.succeeded());
        assertNull(attempt.failure());
    }

    // ---- heartbeats, silence, loss ----

    @Test
    void an_idle_receiver_sends_heartbeats_and_a_silent_sender_is_lost() {
        joined();
        control.onFrame(link, formGroup(1, 60_000));
        Attempt attempt = assertInstanceOf(ReceiverControl.JoinGroup.class, next()).attempt();
        clock.advance(IO_TIMEOUT.dividedBy(3));
        control.onTick(clock.nanoTime());
        assertEquals(new Wire.Heartbeat(), link.take().getFirst());
        clock.advance(IO_TIMEOUT.minus(IO_TIMEOUT.dividedBy(3)));
        control.onTick(clock.nanoTime());
        assertTrue(link.closed());
        ReceiverControl.Disconnected gone = assertInstanceOf(ReceiverControl.Disconnected.class, next());
        assertEquals("control connection to the sender trainer:29500 lost: IOException: the sender is silent for "
                + "9000 ms (I/O timeout 9000 ms)", gone.message());
        assertEquals(FailureReason.PEER_LOST, attempt.failure().reason());
        assertEquals(0, attempt.failure().rank());
        assertSame(attempt.notice(), attempt.failure(), "a lost sender is the root cause, as the sender's word");
        assertInstanceOf(ReceiverControl.Disconnected.class, next(), "every later awaitUpdate hears it");
    }

    @Test
    void a_sender_that_does_not_read_is_lost_after_the_io_timeout() {
        joined();
        link.stopReading();
        pass(IO_TIMEOUT.dividedBy(3));
        assertEquals(1, link.take().size(), "a heartbeat, left unread");
        pass(IO_TIMEOUT.minusNanos(1));
        assertFalse(link.closed());
        pass(Duration.ofNanos(1));
        ReceiverControl.Disconnected gone = assertInstanceOf(ReceiverControl.Disconnected.class, next());
        assertTrue(gone.message().contains("has not taken what was sent to it for 9000 ms"), gone.message());
        assertInstanceOf(ConnectionLostException.class, gone.exception());
    }

    @Test
    void a_connection_lost_during_an_update_fails_it_as_the_sender_s_loss() {
        joined();
        control.onFrame(link, begin(7, 1000));
        Attempt attempt = assertInstanceOf(ReceiverControl.RunUpdate.class, next()).attempt();
        control.onLost(link, new EOFException("connection closed by peer trainer:29500"));
        assertEquals(FailureReason.PEER_LOST, attempt.failure().reason());
        assertEquals(0, attempt.failure().rank());
        assertInstanceOf(ConnectionLostException.class, attempt.failure().cause());
        assertInstanceOf(ReceiverControl.Disconnected.class, next());
    }

    @Test
    void traffic_the_sender_refuses_ends_the_connection_as_a_protocol_error() {
        joined();
        control.onFrame(link, new Wire.Reject(FailureReason.PROTOCOL, "sent Welcome, which only a sender sends"));
        SyncException e = assertInstanceOf(ReceiverControl.Disconnected.class, next()).exception();
        assertInstanceOf(ProtocolException.class, e);
        assertTrue(e.getMessage().contains("sender refused our traffic (PROTOCOL): sent Welcome"), e.getMessage());
    }

    // ---- close at any point ----

    @Test
    void closing_during_the_join_fails_it() {
        control.onOpened(link);
        control.onStop();
        ConnectionLostException e = assertThrows(ConnectionLostException.class, control::awaitWelcome);
        assertTrue(e.getMessage().contains("this receiver was closed"), e.getMessage());
    }

    @Test
    void closing_while_a_group_forms_or_an_update_runs_fails_it_and_leaves_the_connection_gone() {
        joined();
        control.onFrame(link, formGroup(3, 1000));
        Attempt attempt = assertInstanceOf(ReceiverControl.JoinGroup.class, next()).attempt();
        control.onStop();
        assertEquals(FailureReason.PEER_LOST, attempt.failure().reason());
        assertTrue(attempt.failure().message().endsWith("lost: IOException: this receiver was closed"),
                attempt.failure().message());
        assertInstanceOf(ReceiverControl.Disconnected.class, next());
        assertTrue(link.closed());
        control.send(new Wire.Ready(3));
        link.assertQuiet();
    }

    @Test
    void closing_an_idle_receiver_leaves_only_the_disconnection() {
        joined();
        control.onStop();
        assertInstanceOf(ReceiverControl.Disconnected.class, next());
        assertTrue(link.closed());
    }
}
