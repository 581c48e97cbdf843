package io.github.panamanccl.sync;

/** A bucket arrived with the wrong length, index, version or checksum. */
public final class BucketCorruptedException extends UpdateFailedException {
    private static final long serialVersionUID = 1L;

    BucketCorruptedException(String message, long version, int failedRank, ReceiverState receiverState, Throwable cause) {
        super(message, version, failedRank, receiverState, cause);
    }
}
