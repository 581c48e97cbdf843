package io.github.panamanccl.sync;

/** A rank holds a different plan (fingerprint) than the update was published for; nothing was transferred. */
public final class PlanMismatchException extends UpdateFailedException {
    private static final long serialVersionUID = 1L;

    PlanMismatchException(String message, long version, int failedRank, ReceiverState receiverState, Throwable cause) {
        super(message, version, failedRank, receiverState, cause);
    }
}
