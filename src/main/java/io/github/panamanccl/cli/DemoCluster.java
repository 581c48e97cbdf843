package io.github.panamanccl.cli;

import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.sync.SyncException;
import io.github.panamanccl.sync.Transport;

/**
 * A sender and receivers in this process, each rank with its own copy of every tensor, that sync the model
 * bucketed (WeightSender / WeightReceiver) or per tensor (the same transport, one broadcast per tensor) and
 * verify the receivers against the sender's checksums. Public for the benchmarks in bench/.
 */
public interface DemoCluster extends AutoCloseable {
    /** Receives every sender-side progress step: bytes done so far of the sync's total. */
    @FunctionalInterface
    interface Progress {
        void update(long doneBytes, long totalBytes);

        Progress NONE = (done, total) -> { };
    }

    /**
     * One timed sync of the whole model.
     *
     * @param bytes           bytes moved to each receiver (bucket padding included when bucketed)
     * @param collectiveCalls broadcast calls (one per bucket, or one per tensor)
     * @param seconds         from the start of the sync until every receiver had the whole model
     */
    record SyncResult(long version, long bytes, int buckets, long collectiveCalls, double seconds) {
    }

    /** Receivers whose every tensor matched the sender's checksum, and the first mismatch found, if any. */
    record Verification(int receiversVerified, int receivers, Optional<String> firstMismatch) {
        public boolean complete() {
            return receiversVerified == receivers;
        }
    }

    BucketPlan plan();

    /** Writes the contents of {@code version} into the sender's tensors and returns their CRC32C checksums. */
    int[] fillSender(long version);

    /** Publishes {@code version} (greater than the last one published) bucketed; returns when every receiver committed. */
    SyncResult syncBucketed(long version, Progress progress);

    /**
     * Sends every tensor with its own broadcast over the same transport (no plan, no packing), tagged
     * {@code version}; returns when every receiver has the last tensor.
     */
    SyncResult syncPerTensor(long version, Progress progress);

    /** Compares every receiver's tensors with the sender's checksums. */
    Verification verify(int[] expectedChecksums);

    @Override
    void close();

    /** Results of every task; the first failure is rethrown (unchecked ones as they are). */
    static <T> List<T> awaitAll(List<Future<T>> tasks, Duration deadline) {
        List<T> results = new ArrayList<>(tasks.size());
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        for (Future<T> task : tasks) {
            try {
                results.add(task.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS));
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException unchecked ? unchecked
                        : new SyncException("receiver failed: " + e.getCause(), e.getCause());
            } catch (TimeoutException e) {
                throw new SyncException("a receiver did not finish within " + deadline, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SyncException("interrupted while waiting for the receivers", e);
            }
        }
        return results;
    }

    /** A receiver's part of forming a per-tensor group: joins and waits until every rank has joined. */
    static Transport.Group joinGroup(Transport transport, byte[] rendezvous, InetAddress sender, int rank,
                                     int worldSize, long deadlineNanos) {
        try (Transport.PendingGroup pending = transport.join(rendezvous, sender, rank, worldSize)) {
            return pending.awaitGroup(deadlineNanos);
        }
    }

    static void cancelAll(List<? extends Future<?>> tasks) {
        tasks.forEach(task -> task.cancel(true));
    }
}
