package io.github.panamanccl.sync;

/** The update's deadline passed; the transport group was aborted. */
public final class UpdateDeadlineException extends UpdateFailedException {
    private static final long serialVersionUID = 1L;

    UpdateDeadlineException(String message, long version, int failedRank, ReceiverState receiverState, Throwable cause) {
        super(message, version, failedRank, receiverState, cause);
    }
}
