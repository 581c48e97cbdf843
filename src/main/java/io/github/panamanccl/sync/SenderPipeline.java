package io.github.panamanccl.sync;

import java.util.function.Consumer;

/**
 * Packs and broadcasts every bucket of one update, in order, over a formed group of type {@code G}.
 *
 * @param <G> the group type the pipeline's memory travels over
 */
interface SenderPipeline<G extends Transport.Group> extends AutoCloseable {
    void run(long version, G group, long startNanos, long deadlineNanos, Consumer<BucketProgress> progress)
            throws Exception;

    @Override
    void close();
}
