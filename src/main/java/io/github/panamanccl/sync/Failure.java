package io.github.panamanccl.sync;

import io.github.panamanccl.CudaException;
import io.github.panamanccl.sync.Wire.Reason;

/** The first reason an update failed, as recorded by whichever thread saw it first. */
record Failure(Reason reason, int rank, String message, Throwable cause) {

    /** A transport failure seen by this rank ({@code ownRank}). */
    static Failure of(TransportException e, int ownRank) {
        Reason reason = switch (e.kind()) {
            case DEADLINE -> Reason.DEADLINE;
            case CORRUPT -> Reason.CORRUPT_BUCKET;
            case PEER_FAILED, ABORTED -> Reason.PEER_LOST;
            case LOCAL -> Reason.LOCAL_ERROR;
        };
        return new Failure(reason, e.kind() == TransportException.Kind.LOCAL ? ownRank : e.peerRank(), e.getMessage(), e);
    }

    /** Any exception seen by this rank while running the update. */
    static Failure of(Throwable e, int ownRank) {
        return switch (e) {
            case TransportException t -> of(t, ownRank);
            case UpdateFailedException u -> new Failure(reasonOf(u), u.failedRank(), u.getMessage(), u);
            case ConnectionLostException c -> new Failure(Reason.PEER_LOST, UpdateFailedException.UNKNOWN_RANK,
                    c.getMessage(), c);
            case CudaException c -> new Failure(Reason.LOCAL_ERROR, ownRank, "local CUDA error: " + c.getMessage(), c);
            default -> new Failure(Reason.APPLICATION_ERROR, ownRank, e.getClass().getSimpleName() + ": "
                    + e.getMessage(), e);
        };
    }

    private static Reason reasonOf(UpdateFailedException e) {
        return switch (e) {
            case UpdateDeadlineException d -> Reason.DEADLINE;
            case BucketCorruptedException c -> Reason.CORRUPT_BUCKET;
            case PlanMismatchException p -> Reason.PLAN_MISMATCH;
            case PeerFailedException p -> Reason.PEER_LOST;
            default -> Reason.PEER_ERROR;
        };
    }

    /**
     * The typed exception for this failure as rank {@code ownRank} reports it; {@code state} is the receiver's state
     * after it (null on the sender). A local failure is {@link LocalFailureException} on the rank it happened on,
     * and a peer's failure everywhere else.
     */
    UpdateFailedException toException(String side, int ownRank, long version, ReceiverState state) {
        String text = side + ": update to version " + version + " failed"
                + (rank >= 0 ? " (rank " + rank + ")" : "") + ": " + message;
        return switch (reason) {
            case DEADLINE -> new UpdateDeadlineException(text, version, rank, state, cause);
            case CORRUPT_BUCKET -> new BucketCorruptedException(text, version, rank, state, cause);
            case PLAN_MISMATCH -> new PlanMismatchException(text, version, rank, state, cause);
            case LOCAL_ERROR -> rank == ownRank ? new LocalFailureException(text, version, rank, state, cause)
                    : new PeerFailedException(text, version, rank, state, cause);
            case PEER_LOST, PEER_ERROR, GROUP_FAILED, STALE ->
                    new PeerFailedException(text, version, rank, state, cause);
            default -> new UpdateFailedException(text, version, rank, state, cause);
        };
    }
}
