package io.github.panamanccl.sync;

/** A data-plane operation failed; {@link #kind()} says how, {@link #peerRank()} which peer if known. */
public final class TransportException extends SyncException {
    private static final long serialVersionUID = 1L;

    /** How a transport operation failed. */
    public enum Kind {
        /** The deadline passed. */
        DEADLINE,
        /** A peer closed, reset or broke the connection or communicator. */
        PEER_FAILED,
        /** A bucket arrived with a wrong header or checksum. */
        CORRUPT,
        /**
         * {@link Transport.Group#abort()} or {@link Transport.PendingGroup#abort()} was called (by a deadline watchdog
         * or a failure elsewhere).
         */
        ABORTED,
        /**
         * This rank's own runtime failed (e.g. a CUDA error on its stream); no peer is to blame. The transport group
         * was aborted.
         */
        LOCAL
    }

    private final Kind kind;
    private final int peerRank;

    TransportException(Kind kind, int peerRank, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.peerRank = peerRank;
    }

    /** {@code what} (e.g. "nccl group") was cut short by an abort. */
    static TransportException aborted(String what, Throwable cause) {
        return new TransportException(Kind.ABORTED, UpdateFailedException.UNKNOWN_RANK, what + " was aborted", cause);
    }

    /** How the operation failed. */
    public Kind kind() {
        return kind;
    }

    /** The peer at fault, or {@link UpdateFailedException#UNKNOWN_RANK}. */
    public int peerRank() {
        return peerRank;
    }
}
