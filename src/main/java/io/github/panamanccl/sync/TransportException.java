package io.github.panamanccl.sync;

/**
 * A data-plane operation failed; {@link #reason()} says how (in the sync vocabulary, so no translation is needed),
 * {@link #peerRank()} which peer if known. An operation cut short by {@code abort()} reports
 * {@link FailureReason#CLOSED}: whoever aborted it holds the real reason. A step that stopped because its attempt
 * had failed already carries that {@linkplain #standing() failure}.
 */
final class TransportException extends SyncException {
    private static final long serialVersionUID = 1L;

    private final FailureReason reason;
    private final int peerRank;
    private final transient Failure standing;

    TransportException(FailureReason reason, int peerRank, String message, Throwable cause) {
        this(reason, peerRank, message, cause, null);
    }

    private TransportException(FailureReason reason, int peerRank, String message, Throwable cause,
            Failure standing) {
        super(message, cause);
        this.reason = reason;
        this.peerRank = peerRank;
        this.standing = standing;
    }

    /** Ends a step of the update to {@code version}, which failed with {@code standing} (seen by another thread). */
    static TransportException failedAlready(long version, Failure standing) {
        return new TransportException(standing.reason(), standing.rank(), "update " + version + " failed: "
                + standing.message(), null, standing);
    }

    /** {@code what} (e.g. "nccl group") was cut short by an abort. */
    static TransportException aborted(String what, Throwable cause) {
        return new TransportException(FailureReason.CLOSED, UpdateFailedException.UNKNOWN_RANK, what + " was aborted",
                cause);
    }

    FailureReason reason() {
        return reason;
    }

    /** The peer at fault, or {@link UpdateFailedException#UNKNOWN_RANK}. */
    int peerRank() {
        return peerRank;
    }

    /** The attempt's failure this exception only echoes, or null when the operation itself failed. */
    Failure standing() {
        return standing;
    }
}
