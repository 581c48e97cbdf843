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

    /** What {@code e}, seen by rank {@code ownRank} while it ran the update, says about the update. */
    static Failure of(Throwable e, int ownRank) {
        return switch (e) {
            case TransportException t -> new Failure(t.reason(), t.reason() == FailureReason.LOCAL_ERROR ? ownRank
                    : t.peerRank(), null, t.getMessage(), t);
            case ProtocolException p -> new Failure(FailureReason.PROTOCOL, ownRank, null, p.getMessage(), p);
            case CudaException c -> new Failure(FailureReason.LOCAL_ERROR, ownRank, null, "local CUDA error: "
                    + c.getMessage(), c);
            case SyncException s -> new Failure(FailureReason.LOCAL_ERROR, ownRank, null, s.getMessage(), s);
            case Exception application -> new Failure(FailureReason.APPLICATION_ERROR, ownRank, null,
                    application.getClass().getSimpleName() + ": " + application.getMessage(), application);
            case Throwable fatal -> new Failure(FailureReason.LOCAL_ERROR, ownRank, null, fatal.toString(), fatal);
        };
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
