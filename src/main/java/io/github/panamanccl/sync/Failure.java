package io.github.panamanccl.sync;

import io.github.panamanccl.CudaException;

/**
 * The first reason an update failed, as recorded by whichever thread saw it first.
 *
 * @param rank    the rank at fault, or {@link UpdateFailedException#UNKNOWN_RANK}
 * @param phase   where the update stood; null until the {@link Attempt} it fails stamps its own
 * @param message who failed and what happened, without advice
 */
record Failure(FailureReason reason, int rank, UpdatePhase phase, String message, Throwable cause) {

    /** The sender's ABORT, as a receiver records it. */
    static Failure fromSender(Wire.Abort abort) {
        return new Failure(abort.reason(), abort.failedRank(), null, "sender aborted: " + abort.message(), null);
    }

    /**
     * What {@code e}, seen by rank {@code ownRank} while it ran the update, says about the update: the attempt's
     * failure when {@code e} only echoes it. A failure path runs cold, so this tests types with {@code instanceof}: a
     * type switch's first run costs tens of milliseconds (its bootstrap), which a failing update would spend before
     * anyone hears of it.
     */
    static Failure of(Throwable e, int ownRank) {
        if (e instanceof TransportException t) {
            if (t.standing() != null) {
                return t.standing();
            }
            return new Failure(t.reason(), t.reason() == FailureReason.LOCAL_ERROR ? ownRank : t.peerRank(), null,
                    t.getMessage(), t);
        }
        if (e instanceof ProtocolException p) {
            return new Failure(FailureReason.PROTOCOL, ownRank, null, p.getMessage(), p);
        }
        if (e instanceof CudaException c) {
            return new Failure(FailureReason.LOCAL_ERROR, ownRank, null, "local CUDA error: " + c.getMessage(), c);
        }
        if (e instanceof SyncException || e instanceof Error) { // this rank's own runtime, e.g. an interrupted wait
            return new Failure(FailureReason.LOCAL_ERROR, ownRank, null, e.toString(), e);
        }
        return new Failure(FailureReason.APPLICATION_ERROR, ownRank, null, e.getClass().getSimpleName() + ": "
                + e.getMessage(), e);
    }

    /** This failure with {@code where} as its phase, unless it has one. */
    Failure in(UpdatePhase where) {
        return phase != null ? this : new Failure(reason, rank, where, message, cause);
    }

    /**
     * The exception rank {@code side} throws for it: who failed, in which phase, and what to do. {@code state} is the
     * receiver's state after the failure (null on the sender).
     */
    UpdateFailedException toException(String side, long version, ReceiverState state) {
        UpdatePhase where = phase != null ? phase : UpdatePhase.AWAITING_RECEIVERS;
        String text = side + ": update to version " + version + " failed " + where.description() + " (" + reason
                + (rank >= 0 ? ", rank " + rank : "") + "): " + message + ". " + reason.advice();
        return new UpdateFailedException(text, reason, where, version, rank, state, cause);
    }
}
