package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.function.UnaryOperator;

import io.github.panamanccl.sync.UpdateReport;
import io.github.panamanccl.sync.WeightReceiver;
import io.github.panamanccl.sync.WeightSender;

/**
 * A sender and one receiver in this JVM, the receiver serving updates on a thread of its own, for the benchmarks
 * that time whole updates: {@link #update} publishes and returns once the receiver committed.
 */
final class SyncPair implements AutoCloseable {
    private static final String TOKEN = "bench";
    private static final Duration POLL = Duration.ofMillis(200);

    final WeightSender sender;
    final WeightReceiver receiver;
    private final Duration deadline;
    private final Thread serving;
    private volatile boolean closing;
    private volatile RuntimeException failure;

    private SyncPair(WeightSender sender, WeightReceiver receiver, Duration deadline) {
        this.sender = sender;
        this.receiver = receiver;
        this.deadline = deadline;
        this.serving = Thread.ofPlatform().daemon().name("bench-receiver").start(this::serve);
    }

    /** Starts the sender {@code sender} configures and joins the receiver {@code receiver} configures to it. */
    static SyncPair start(UnaryOperator<WeightSender.Builder> sender, UnaryOperator<WeightReceiver.Builder> receiver,
            Duration deadline) {
        WeightSender s = sender.apply(WeightSender.builder()).receivers(1).token(TOKEN).start();
        try {
            WeightReceiver r = receiver.apply(WeightReceiver.builder().sender("127.0.0.1", s.port()).token(TOKEN))
                    .join(deadline);
            return new SyncPair(s, r, deadline);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    private void serve() {
        while (!closing) {
            try {
                receiver.awaitUpdate(POLL);
            } catch (RuntimeException e) {
                if (!closing) {
                    failure = e; // the sender's publish throws too; this is the receiver's side of it
                }
                return;
            }
        }
    }

    /** One whole update: publishes {@code version} and returns once the receiver committed it. */
    UpdateReport update(long version) {
        RuntimeException failed = failure;
        if (failed != null) {
            throw new IllegalStateException("the receiver stopped serving: " + failed, failed);
        }
        return sender.publish(version, deadline);
    }

    @Override
    public void close() {
        closing = true;
        try {
            sender.close();
            receiver.close();
            serving.join(POLL.multipliedBy(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
