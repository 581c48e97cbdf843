package io.github.panamanccl.sync;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The one "first failure wins" of the sync layer. */
class AttemptTest {
    private static Failure failure(FailureReason reason, String message) {
        return new Failure(reason, 1, null, message, null);
    }

    @Test
    void the_first_failure_wins_is_stamped_with_the_phase_and_aborts_what_is_attached_once() {
        Attempt attempt = new Attempt(3, UpdatePhase.ANNOUNCING);
        AtomicInteger aborts = new AtomicInteger();
        attempt.attach(aborts::incrementAndGet);
        attempt.advance(UpdatePhase.TRANSFER);
        Failure first = attempt.fail(failure(FailureReason.PEER_LOST, "first"));
        assertEquals(UpdatePhase.TRANSFER, first.phase());
        assertSame(first, attempt.fail(failure(FailureReason.DEADLINE, "second")), "the first one stands");
        assertEquals(1, aborts.get());
        attempt.advance(UpdatePhase.ACKNOWLEDGING);
        assertEquals(UpdatePhase.TRANSFER, attempt.phase(), "no transition after the outcome");
        assertFalse(attempt.succeed());
        TransportException thrown = assertThrows(TransportException.class, attempt::throwIfFailed);
        assertEquals(FailureReason.PEER_LOST, thrown.reason());
    }

    @Test
    void attaching_to_a_failed_attempt_aborts_at_once() {
        Attempt attempt = new Attempt(1, UpdatePhase.FORMING_GROUP);
        attempt.fail(failure(FailureReason.CLOSED, "closed"));
        AtomicInteger aborts = new AtomicInteger();
        attempt.attach(aborts::incrementAndGet);
        assertEquals(1, aborts.get());
    }

    @Test
    void after_success_no_failure_lands_and_nothing_is_aborted() {
        Attempt attempt = new Attempt(1, UpdatePhase.ACKNOWLEDGING);
        AtomicInteger aborts = new AtomicInteger();
        attempt.attach(aborts::incrementAndGet);
        assertTrue(attempt.succeed());
        assertNull(attempt.fail(failure(FailureReason.DEADLINE, "late watchdog")));
        assertNull(attempt.failure());
        assertEquals(0, aborts.get());
        attempt.throwIfFailed();
        assertTrue(attempt.awaitOutcome(0));
    }

    @Test
    void the_sender_s_notice_stands_when_first_and_is_kept_as_the_root_cause_when_not() {
        Attempt noticedFirst = new Attempt(1, UpdatePhase.TRANSFER);
        Failure notice = noticedFirst.noticed(failure(FailureReason.PEER_LOST, "sender aborted: rank 2 died"));
        assertSame(noticedFirst.notice(), notice);
        assertSame(noticedFirst.failure(), notice);

        Attempt ownFirst = new Attempt(1, UpdatePhase.TRANSFER);
        Failure own = ownFirst.fail(failure(FailureReason.PEER_LOST, "the sender closed the data connection"));
        ownFirst.noticed(failure(FailureReason.CORRUPT_BUCKET, "sender aborted: rank 1 got a corrupt bucket"));
        assertSame(own, ownFirst.failure());
        assertEquals(FailureReason.CORRUPT_BUCKET, ownFirst.awaitNotice(0).reason());
    }

    @Test
    void waits_return_at_once_once_the_phase_is_reached_or_the_attempt_settled() {
        Attempt attempt = new Attempt(1, UpdatePhase.AWAITING_RECEIVERS);
        assertEquals(UpdatePhase.AWAITING_RECEIVERS, attempt.awaitPhase(UpdatePhase.TRANSFER, 0), "the time is up");
        attempt.advance(UpdatePhase.ANNOUNCING);
        assertEquals(UpdatePhase.ANNOUNCING, attempt.awaitPhase(UpdatePhase.FORMING_GROUP, Long.MAX_VALUE / 2),
                "a later phase than asked for: the group is reused");
        attempt.fail(failure(FailureReason.DEADLINE, "late"));
        assertEquals(UpdatePhase.ANNOUNCING, attempt.awaitPhase(UpdatePhase.TRANSFER, Long.MAX_VALUE / 2));
        assertFalse(attempt.awaitOutcome(Long.MAX_VALUE / 2));
        assertNull(attempt.awaitNotice(0));
    }
}
