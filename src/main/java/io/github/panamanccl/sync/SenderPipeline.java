package io.github.panamanccl.sync;

import java.util.function.Consumer;

/** Packs and broadcasts every bucket of one update, in order, over a formed group. */
interface SenderPipeline extends AutoCloseable {
    void run(long version, Transport.Group group, long startNanos, long deadlineNanos, Consumer<BucketProgress> progress);

    @Override
    void close();
}
