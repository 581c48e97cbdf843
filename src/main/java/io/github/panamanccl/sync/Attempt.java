package io.github.panamanccl.sync;

import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * One attempt at one version, as every thread that touches it sees it: the control thread that owns its state
 * machine, and the thread that runs its data plane. The first outcome wins: once failed it stays failed (and a
 * success after that is refused), once succeeded no failure can land. A failure aborts what is attached (the group
 * being formed, or the group), from the thread that saw it; attaching to a failed attempt aborts at once.
 *
 * <p>The owner of the state machine {@linkplain #advance advances} the phase; the data-plane thread waits for
 * the phase it needs. A receiver's attempt also keeps the sender's notice (its ABORT), which names the root cause
 * when this rank's own failure only says that the sender cut the data connection.
 */
final class Attempt {
    /** Something a failure must stop at once: a group being formed, or a formed group. */
    @FunctionalInterface
    interface Abortable {
        /** From any thread; idempotent; never throws. */
        void abort();
    }

    private final long version;
    private UpdatePhase phase;
    private Failure failure;
    private Failure notice;
    private boolean succeeded;
    private Abortable attached;

    Attempt(long version, UpdatePhase phase) {
        this.version = version;
        this.phase = phase;
    }

    long version() {
        return version;
    }

    synchronized UpdatePhase phase() {
        return phase;
    }

    /** Moves the attempt to {@code next}; no effect once it has an outcome. */
    synchronized void advance(UpdatePhase next) {
        if (failure == null && !succeeded) {
            phase = next;
            notifyAll();
        }
    }

    /**
     * Records {@code f} (stamped with the current phase) unless the attempt already has an outcome, and aborts what
     * is attached. Returns the failure that stands: {@code f}'s, an earlier one, or null when the attempt succeeded.
     */
    Failure fail(Failure f) {
        Abortable toAbort = null;
        Failure standing;
        synchronized (this) {
            if (failure == null && !succeeded) {
                failure = f.in(phase);
                toAbort = attached;
                attached = null;
                notifyAll();
            }
            standing = failure;
        }
        if (toAbort != null) {
            toAbort.abort();
        }
        return standing;
    }

    /**
     * The sender's notice (a receiver's view): kept as the root cause, and it fails the attempt if nothing did (then
     * {@link #failure()} is the very same record as {@link #notice()}). Returns the failure that stands.
     */
    Failure noticed(Failure f) {
        Abortable toAbort = null;
        Failure standing;
        synchronized (this) {
            Failure stamped = f.in(phase);
            if (notice == null) {
                notice = stamped;
            }
            if (failure == null && !succeeded) {
                failure = stamped;
                toAbort = attached;
                attached = null;
            }
            standing = failure;
            notifyAll();
        }
        if (toAbort != null) {
            toAbort.abort();
        }
        return standing;
    }

    /** A failure from now on aborts {@code target}; aborts it at once when the attempt has failed already. */
    void attach(Abortable target) {
        synchronized (this) {
            if (failure == null) {
                attached = target;
                return;
            }
        }
        target.abort();
    }

    /** True when this call gave the attempt its outcome: success, which no failure can follow. */
    synchronized boolean succeed() {
        if (failure != null) {
            return false;
        }
        succeeded = true;
        attached = null;
        notifyAll();
        return true;
    }

    /**
     * For the data-plane thread between steps: throws once the attempt has failed. What it throws only ends the
     * step; the failure that stands is {@link #failure()}.
     */
    void throwIfFailed() {
        Failure f = failure();
        if (f != null) {
            throw TransportException.failedAlready(version, f);
        }
    }

    synchronized Failure failure() {
        return failure;
    }

    synchronized Failure notice() {
        return notice;
    }

    synchronized boolean succeeded() {
        return succeeded;
    }

    synchronized boolean settled() {
        return succeeded || failure != null;
    }

    /**
     * Waits until the phase has reached {@code wanted} (returns the phase then) or the attempt has an outcome
     * (returns the phase it ended in). The bound is only a safety net: the control thread settles every attempt by
     * its deadline.
     */
    UpdatePhase awaitPhase(UpdatePhase wanted, long timeoutNanos) {
        await(() -> settled() || phase().compareTo(wanted) >= 0, timeoutNanos);
        return phase();
    }

    /** Waits for the outcome; true when the attempt succeeded. */
    boolean awaitOutcome(long timeoutNanos) {
        await(this::settled, timeoutNanos);
        return succeeded();
    }

    /** Waits up to {@code timeoutNanos} for the sender's notice; the notice, or null. */
    Failure awaitNotice(long timeoutNanos) {
        await(() -> notice() != null, timeoutNanos);
        return notice();
    }

    /** Waits until {@code done} holds or the time is up; an interrupt fails the attempt as this rank's own. */
    private void await(BooleanSupplier done, long timeoutNanos) {
        long until = System.nanoTime() + timeoutNanos;
        try {
            synchronized (this) {
                for (long left = timeoutNanos; !done.getAsBoolean() && left > 0; left = until - System.nanoTime()) {
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail(new Failure(FailureReason.LOCAL_ERROR, UpdateFailedException.UNKNOWN_RANK, null,
                    "interrupted while waiting for the update", e));
        }
    }
}
