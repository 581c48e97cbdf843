package io.github.panamanccl.sync;

import java.util.Optional;

/**
 * One update did not complete. {@link #reason()} says why, {@link #phase()} where it stood, and
 * {@link #failedRank()} which rank was at fault when one is known (0 = sender). On a receiver,
 * {@link #receiverState()} tells what its weights are now: unchanged ({@link ReceiverState.Committed} of the old
 * version, or {@link ReceiverState.Empty}) or {@link ReceiverState.Torn}; on the sender it is empty.
 */
public final class UpdateFailedException extends SyncException {
    private static final long serialVersionUID = 1L;
    /** {@link #failedRank()} when no single rank is known to be at fault. */
    public static final int UNKNOWN_RANK = -1;

    private final FailureReason reason;
    private final UpdatePhase phase;
    private final long version;
    private final int failedRank;
    private final transient ReceiverState receiverState;

    UpdateFailedException(String message, FailureReason reason, UpdatePhase phase, long version, int failedRank,
            ReceiverState receiverState, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.phase = phase;
        this.version = version;
        this.failedRank = failedRank;
        this.receiverState = receiverState;
    }

    /** Why the update failed; every rank reports the same reason for the same failure. */
    public FailureReason reason() {
        return reason;
    }

    /** Where the update stood when it failed, as seen by this rank. */
    public UpdatePhase phase() {
        return phase;
    }

    /** The version whose update failed. */
    public long version() {
        return version;
    }

    /** The rank that failed first (0 = sender), or {@link #UNKNOWN_RANK}. */
    public int failedRank() {
        return failedRank;
    }

    /** On a receiver: its state after the failure. Empty on the sender. */
    public Optional<ReceiverState> receiverState() {
        return Optional.ofNullable(receiverState);
    }

    @Override
    public String getMessage() {
        String base = super.getMessage();
        return receiverState == null ? base : base + " [receiver state now " + receiverState + "]";
    }
}
