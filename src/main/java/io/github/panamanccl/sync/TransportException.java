package io.github.panamanccl.sync;

/**
 * A data-plane operation failed; {@link #reason()} says how (in the sync vocabulary, so no translation is needed),
 * {@link #peerRank()} which peer if known. An operation cut short by {@code abort()} reports
 * {@link FailureReason#CLOSED}: whoever aborted it holds the real reason.
 */
final class TransportException extends SyncException {
    private static final long serialVersionUID = 1L;

    private final FailureReason reason;
    private final int peerRank;

    TransportException(FailureReason reason, int peerRank, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
        this.peerRank = peerRank;
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
}
