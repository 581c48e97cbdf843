package io.github.panamanccl.sync;

/**
 * This rank's own runtime failed during the update (e.g. a CUDA error on its device or stream); no peer is to blame.
 * {@link #failedRank()} is this rank. The transport group was aborted on every rank, which see the update fail as a
 * {@link PeerFailedException} naming this rank.
 */
public final class LocalFailureException extends UpdateFailedException {
    private static final long serialVersionUID = 1L;

    LocalFailureException(String message, long version, int failedRank, ReceiverState receiverState, Throwable cause) {
        super(message, version, failedRank, receiverState, cause);
    }
}
