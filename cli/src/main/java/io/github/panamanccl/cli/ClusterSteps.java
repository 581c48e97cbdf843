package io.github.panamanccl.cli;

import java.net.InetAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.IntFunction;

import io.github.panamanccl.cli.DemoCluster.Progress;
import io.github.panamanccl.cli.DemoCluster.SyncResult;
import io.github.panamanccl.cli.DemoCluster.Verification;
import io.github.panamanccl.sync.CommitMode;
import io.github.panamanccl.sync.SyncException;
import io.github.panamanccl.sync.UpdateReport;
import io.github.panamanccl.sync.WeightReceiver;
import io.github.panamanccl.sync.WeightSender;

/** Steps of a {@link DemoCluster} that do not depend on whether its tensors live in host or device memory. */
final class ClusterSteps {
    private ClusterSteps() {
    }

    /** A fresh random token for a cluster's sender and receivers to authenticate each other with. */
    static String newToken() {
        return HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
    }

    /**
     * A receiver of {@code sender} over loopback that insists on the sender's plan and commits in place (two bucket
     * buffers besides its tensors); the caller adds where its tensors live, then joins.
     */
    static WeightReceiver.Builder receiverOf(WeightSender sender, String token, String name) {
        return WeightReceiver.builder()
                .sender(InetAddress.getLoopbackAddress().getHostAddress(), sender.port())
                .token(token)
                .name(name)
                .expectPlan(sender.plan().fingerprint())
                .commitMode(CommitMode.IN_PLACE);
    }

    /**
     * Publishes {@code version} bucketed while every receiver awaits it on its own thread; timed from the publish
     * until every receiver committed.
     *
     * @param threadOfReceiver the thread receiver {@code r} (0-based) runs on
     */
    static SyncResult syncBucketed(WeightSender sender, List<WeightReceiver> receivers,
                                   IntFunction<ExecutorService> threadOfReceiver, ProgressRelay bucketProgress,
                                   long version, Progress progress, Duration deadline) {
        List<Future<UpdateReport>> received = new ArrayList<>();
        for (int r = 0; r < receivers.size(); r++) {
            WeightReceiver receiver = receivers.get(r);
            received.add(threadOfReceiver.apply(r).submit(() -> receiver.awaitUpdate(deadline)
                    .orElseThrow(() -> new SyncException("no update began within " + deadline))));
        }
        bucketProgress.start(progress, sender.plan().totalBucketBytes());
        try {
            long start = System.nanoTime();
            UpdateReport report = sender.publish(version, deadline);
            awaitAll(received, deadline);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, report.bytes(), report.buckets(), report.collectiveCalls(), seconds);
        } finally {
            bucketProgress.stop();
            cancelAll(received);
        }
    }

    /** Counts the receivers whose check found no mismatch; each check yields its receiver's first mismatch. */
    static Verification verification(List<Future<Optional<String>>> checks, Duration deadline) {
        int verified = 0;
        Optional<String> firstMismatch = Optional.empty();
        for (Optional<String> mismatch : awaitAll(checks, deadline)) {
            if (mismatch.isEmpty()) {
                verified++;
            } else if (firstMismatch.isEmpty()) {
                firstMismatch = mismatch;
            }
        }
        return new Verification(verified, checks.size(), firstMismatch);
    }

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

    static void cancelAll(List<? extends Future<?>> tasks) {
        tasks.forEach(task -> task.cancel(true));
    }
}
