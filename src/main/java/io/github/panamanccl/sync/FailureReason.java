package io.github.panamanccl.sync;

/**
 * Why an update failed or a join was refused: the one failure vocabulary of the sync layer. It is what
 * {@link UpdateFailedException#reason()} and {@link JoinRejectedException#reason()} report, and it travels on the
 * control plane as its code, unchanged, so every rank names a failure the same way.
 */
public enum FailureReason {
    /** Join: the receiver's token is not the sender's. */
    WRONG_TOKEN(1),
    /** Join or update: the two sides hold different plans, or a receiver's tensors do not fit the plan. */
    PLAN_MISMATCH(2),
    /** Join: every receiver place of the sender is taken. */
    GROUP_FULL(3),
    /** A peer sent something malformed or out of turn. */
    PROTOCOL(4),
    /** The sender or receiver was closed (or the transport group was aborted) while the operation ran. */
    CLOSED(5),
    /** The update's deadline passed. */
    DEADLINE(6),
    /** A rank's control or data connection ended: it died, was closed or went silent. */
    PEER_LOST(7),
    /** A bucket arrived with a wrong header, length or checksum. */
    CORRUPT_BUCKET(9),
    /**
     * The application failed its part: a {@link BucketConsumer} threw while a bucket was applied, or readers of
     * {@link StagedWeights} kept the storage an update must overwrite.
     */
    APPLICATION_ERROR(10),
    /** A rank could not join the transport group. */
    GROUP_FAILED(11),
    /** The update began for a transport group the receiver is not in. */
    STALE(12),
    /** A rank's own runtime failed (e.g. a CUDA error on its device); no peer is to blame. */
    LOCAL_ERROR(13),
    /** Join: the sender has too many handshakes in progress (or this one said nothing in time). */
    BUSY(14);

    private final int code;

    FailureReason(int code) {
        this.code = code;
    }

    /** The wire code; part of the protocol: never renumber, only add (8 is retired). */
    int code() {
        return code;
    }

    /** @throws ProtocolException naming {@code field} when no reason has this code */
    static FailureReason ofCode(int code, String field) {
        for (FailureReason reason : values()) {
            if (reason.code == code) {
                return reason;
            }
        }
        throw new ProtocolException(field + " " + code + " is not a known reason code");
    }

    /** What the user can do about it, as the last sentence of a message. */
    String advice() {
        return switch (this) {
            case WRONG_TOKEN -> "Give the receiver the sender's token.";
            case PLAN_MISMATCH -> "Build sender and receivers from the same inventory and bucket size.";
            case GROUP_FULL -> "Start no more receivers than the sender's receivers(...), or raise it.";
            case PROTOCOL -> "Check that both sides run the same panama-nccl version and nothing else uses the port.";
            case CLOSED -> "Nothing to retry on this instance; create a new one.";
            case DEADLINE -> "Give the update a longer deadline, or find the rank that is slow or missing.";
            case PEER_LOST -> "The next publish forms a new group with the receivers connected then.";
            case CORRUPT_BUCKET -> "Check the network path; the next publish sends every bucket again.";
            case APPLICATION_ERROR -> "Fix the bucket consumer, or close staged-weight leases sooner; the next update "
                    + "starts from its first bucket.";
            case GROUP_FAILED -> "See the failing rank's cause (network, NCCL or device setup).";
            case STALE -> "The next publish forms a new group; nothing to do unless it repeats.";
            case LOCAL_ERROR -> "See the cause on the failing rank (its device or runtime).";
            case BUSY -> "Retry the join.";
        };
    }
}
