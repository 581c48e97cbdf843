package io.github.panamanccl.sync;

import java.util.Optional;

/**
 * One update did not complete. On a receiver, {@link #receiverState()} tells what its weights are now:
 * unchanged ({@link ReceiverState.Committed} of the old version, or {@link ReceiverState.Empty}) or
 * {@link ReceiverState.Torn}. On the sender it is empty, and {@link #failedRank()} names the rank at fault
 * when one is known.
 */
public class UpdateFailedException extends SyncException {
    private static final long serialVersionUID = 1L;
    /** {@link #failedRank()} when no single rank is known to be at fault. */
    public static final int UNKNOWN_RANK = -1;

    private final long version;
    private final int failedRank;
    private final transient ReceiverState receiverState;

    UpdateFailedException(String message, long version, int failedRank, ReceiverState receiverState,
            Throwable cause) {
        super(message, cause);
        this.version = version;
        this.failedRank = failedRank;
        this.receiverState = receiverState;
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
