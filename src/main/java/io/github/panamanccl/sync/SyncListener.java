package io.github.panamanccl.sync;

/**
 * Progress callbacks, called on the thread that runs the update; keep them short. Every method has an empty
 * default.
 */
public interface SyncListener {
    /** After each bucket's transfer on this rank. */
    default void onBucket(BucketProgress progress) {
    }

    /** After an update succeeded on this rank. */
    default void onUpdate(UpdateReport report) {
    }

    /**
     * Sender only: a join was refused, by the sender (wrong token, plan mismatch, group full, a malformed or oversize
     * frame) or by the receiver, which declined the plan (e.g. its tensors do not fit it). Runs on the sender's
     * control thread.
     */
    default void onJoinRejected(String peer, FailureReason reason, String message) {
    }
}
