package io.github.panamanccl.sync;

/** Another rank died, lost its connection or reported an error during the update. */
public final class PeerFailedException extends UpdateFailedException {
    private static final long serialVersionUID = 1L;

    PeerFailedException(String message, long version, int failedRank, ReceiverState receiverState, Throwable cause) {
        super(message, version, failedRank, receiverState, cause);
    }
}
