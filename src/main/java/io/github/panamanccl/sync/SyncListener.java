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

    /** Sender only: a connection was refused during the handshake (wrong token, plan mismatch, oversize frame...). */
    default void onJoinRejected(String peer, JoinRejectedException.Reason reason, String message) {
    }
}
