package io.github.panamanccl.sync;

import java.util.function.Consumer;

/**
 * Receives every bucket of one update over a group of type {@code G} and makes it the application's. How is the
 * implementation's type (staged or in place), chosen once from the {@link CommitMode}.
 *
 * @param <G> the group type the pipeline's memory travels over
 */
interface ReceiverPipeline<G extends Transport.Group> extends AutoCloseable {
    /**
     * Before this rank answers READY: waits until the memory the update writes may be written (a flip's inactive
     * storage, once its readers closed their leases), at most until {@code readersDeadlineNanos}, running
     * {@code throwIfFailed} meanwhile so that an update the sender aborted stops waiting. Nothing to wait for unless
     * the application reads the memory the update writes.
     */
    default void prepare(G group, long readersDeadlineNanos, Runnable throwIfFailed) {
    }

    /** Receives (in place: and applies) every bucket; returns once each bucket applied so far is applied. */
    void receive(long version, G group, long startNanos, long deadlineNanos, Consumer<BucketProgress> progress)
            throws Exception;

    /**
     * After every bucket arrived and validated: applies what is still to apply (staged: all of them; in place:
     * nothing). Before each bucket checks the deadline and runs {@code throwIfFailed}, so an update that failed
     * meanwhile (the sender aborted it) stops being applied.
     */
    void commit(long version, long deadlineNanos, Runnable throwIfFailed) throws Exception;

    /**
     * The update settled as a success (no failure can land on it any more): makes it what the application reads
     * where that is a separate step (a flip between two storages). Cannot fail.
     */
    default void committed(long version) {
    }

    /** True once the current update wrote to the destinations (or handed a bucket to the application). */
    boolean touched();

    /** Bytes of memory held for bucket buffers or staging. */
    long bufferBytes();

    @Override
    void close();
}
