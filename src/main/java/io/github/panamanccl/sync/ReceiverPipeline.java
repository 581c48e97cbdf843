package io.github.panamanccl.sync;

import java.util.function.Consumer;

/**
 * Receives every bucket of one update over a group of type {@code G} and makes it the application's. How is the
 * implementation's type (staged or in place), chosen once from the {@link CommitMode}.
 *
 * @param <G> the group type the pipeline's memory travels over
 */
interface ReceiverPipeline<G extends Transport.Group> extends AutoCloseable {
    /** Receives (in place: and applies) every bucket; returns once each bucket applied so far is applied. */
    void receive(long version, G group, long startNanos, long deadlineNanos, Consumer<BucketProgress> progress)
            throws Exception;

    /**
     * After every bucket arrived and validated: applies what is still to apply (staged: all of them; in place:
     * nothing). Before each bucket checks the deadline and runs {@code throwIfFailed}, so an update that failed
     * meanwhile (the sender aborted it) stops being applied.
     */
    void commit(long version, long deadlineNanos, Runnable throwIfFailed) throws Exception;

    /** True once the current update wrote to the destinations (or handed a bucket to the application). */
    boolean touched();

    /** Bytes of memory held for bucket buffers or staging. */
    long bufferBytes();

    @Override
    void close();
}
