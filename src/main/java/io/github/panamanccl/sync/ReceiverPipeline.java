package io.github.panamanccl.sync;

import java.util.function.Consumer;

/** Receives every bucket of one update; applies in place as they arrive, or after all arrived (staged). */
interface ReceiverPipeline extends AutoCloseable {
    /** Receives (and, in place, applies) every bucket; returns once each applied bucket is applied. */
    void receive(long version, Transport.Group group, int rank, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress);

    /**
     * Staged mode, once every bucket arrived and validated: applies them all. No-op in place. Before each bucket
     * checks the deadline and runs {@code throwIfFailed}, so an update that failed meanwhile (the sender aborted it)
     * stops being applied.
     */
    void applyStaged(long version, long deadlineNanos, Runnable throwIfFailed) throws Exception;

    /** True once the current update wrote to the destinations (or handed a bucket to the application). */
    boolean touched();

    /** Bytes of memory held for bucket buffers or staging. */
    long bufferBytes();

    @Override
    void close();
}
