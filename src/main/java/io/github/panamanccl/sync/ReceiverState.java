package io.github.panamanccl.sync;

/**
 * What a receiver's weights are. Changes only at the end of an update: to {@link Committed} when every bucket
 * arrived, passed validation and was applied; to {@link Torn} when an update failed after it had started writing:
 * an in-place update once its first bucket was applied, a staged one once applying the staged buckets began (the
 * deadline passed, the sender aborted, or the application failed while they were applied). A staged update that
 * fails before applying began (any transfer or validation failure) leaves the state as it was.
 */
public sealed interface ReceiverState {

    /** Joined, nothing committed yet. */
    record Empty() implements ReceiverState {
        @Override
        public String toString() {
            return "EMPTY";
        }
    }

    /** The weights are exactly version {@code version}. */
    record Committed(long version) implements ReceiverState {
        @Override
        public String toString() {
            return "COMMITTED(" + version + ")";
        }
    }

    /**
     * The weights are a mix of {@code lastCommittedVersion} (-1 if none) and {@code failedVersion}; they are
     * unusable until the next successful update.
     */
    record Torn(long lastCommittedVersion, long failedVersion, String cause) implements ReceiverState {
        @Override
        public String toString() {
            return "TORN(failed " + failedVersion + ": " + cause + ")";
        }
    }

    /** The committed version; throws {@link TornWeightsException} when torn and {@link IllegalStateException} when empty. */
    default long requireCommitted() {
        return switch (this) {
            case Committed c -> c.version();
            case Torn t -> throw new TornWeightsException(t);
            case Empty e -> throw new IllegalStateException("no version has been committed yet");
        };
    }
}
