package io.github.panamanccl.sync;

import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** Helpers shared by the sender and receiver pipelines. */
final class Pipelines {
    private Pipelines() {
    }

    /** A single daemon worker thread: the host counterpart of a CUDA copy stream (tasks run in order). */
    static ExecutorService worker(String name) {
        return Executors.newSingleThreadExecutor(task -> Thread.ofPlatform().daemon().name(name).unstarted(task));
    }

    /**
     * Waits for a worker task by the deadline. Its own exception is rethrown as it is (an application's checked one
     * too); its lateness is a deadline failure. Returns its result; null for a null task.
     */
    static <T> T await(Future<T> task, long deadlineNanos, int rank, String what) throws Exception {
        if (task == null) {
            return null;
        }
        try {
            return task.get(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            throw new TransportException(FailureReason.DEADLINE, rank, what + " did not finish before the deadline", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof Error error) {
                throw error;
            }
            throw (Exception) e.getCause(); // a Callable throws nothing else
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SyncException("interrupted while waiting for " + what, e);
        }
    }

    /** Waits until a task has finished, whatever its outcome (it belongs to an update already reported). */
    static void awaitSettled(Future<?> task, long deadlineNanos, int rank, String what) {
        try {
            await(task, deadlineNanos, rank, what);
        } catch (TransportException e) {
            if (e.reason() == FailureReason.DEADLINE) {
                throw e;
            }
        } catch (Exception ignored) {
            // its failure was reported with its own update
        }
    }

    /** Before applying a staged bucket: throws once the deadline has passed or the update failed elsewhere. */
    static void checkApplyStaged(int bucket, int bucketCount, long deadlineNanos, Runnable throwIfFailed) {
        if (System.nanoTime() - deadlineNanos >= 0) {
            throw new TransportException(FailureReason.DEADLINE, UpdateFailedException.UNKNOWN_RANK,
                    "applying staged bucket " + bucket + " of " + bucketCount + " did not begin before the deadline",
                    null);
        }
        throwIfFailed.run();
    }

    /** Stops a worker, waiting briefly for a task in progress so its buffers are not freed under it. */
    static void stop(ExecutorService worker) {
        worker.shutdownNow();
        try {
            worker.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Closes each resource in order, null ones skipped, ignoring failures: it runs after an update failed (or
     * while a pipeline or connection is torn down), and that failure is the one reported.
     */
    static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable resource : resources) {
            if (resource != null) {
                try {
                    resource.close();
                } catch (Exception ignored) {
                    // see above
                }
            }
        }
    }

    /** Aborts {@code group}, so that nothing of it is left running, then frees it; null is nothing to do. */
    static void discard(Transport.Group group) {
        if (group != null) {
            group.abort();
            group.close();
        }
    }

    static double seconds(long nanos) {
        return nanos / 1e9;
    }
}
