package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Receiver data path over host memory.
 *
 * <p>{@link CommitMode#IN_PLACE}: two bucket buffers; bucket k is applied (scattered or delivered) on the apply
 * thread while bucket k+1 arrives in the other buffer, and a buffer receives again only after its previous
 * bucket was applied. {@link CommitMode#STAGED}: one staging area of the plan's total bucket bytes; every bucket
 * lands at its own offset, nothing is applied until all arrived and validated, then all are applied in order.
 */
final class HostReceiverPipeline implements ReceiverPipeline {
    /** Applies one validated bucket: scatter into destinations, or hand to the application. */
    interface Applier {
        void apply(long version, int bucket, MemorySegment bytes) throws Exception;
    }

    private final BucketPlan plan;
    private final CommitMode mode;
    private final Applier applier;
    private final NativeMemoryLedger.TrackedArena arena = new NativeMemoryLedger.TrackedArena();
    private final MemorySegment[] slots;
    private final ExecutorService applyThread = Pipelines.worker("sync-receiver-apply");
    private final Future<?>[] applied = new Future<?>[2];
    private boolean touched;

    HostReceiverPipeline(BucketPlan plan, CommitMode mode, Applier applier) {
        this.plan = plan;
        this.mode = mode;
        this.applier = applier;
        int n = plan.bucketCount();
        long alignment = Math.min(plan.alignment(), 4096);
        if (mode == CommitMode.STAGED) {
            slots = new MemorySegment[n];
            if (n > 0) {
                MemorySegment staging = arena.allocate(plan.totalBucketBytes(), alignment);
                long offset = 0;
                for (int k = 0; k < n; k++) {
                    slots[k] = staging.asSlice(offset, plan.bucketByteSize(k));
                    offset += plan.bucketByteSize(k);
                }
            }
        } else {
            slots = new MemorySegment[Math.min(2, n)];
            for (int i = 0; i < slots.length; i++) {
                slots[i] = arena.allocate(plan.maxBucketByteSize(), alignment);
            }
        }
    }

    /** Scatters into one destination segment per tensor (index = tensor index). */
    static Applier scatterInto(BucketPlan plan, MemorySegment[] destinations) {
        return (version, bucket, bytes) -> HostBucketPacker.scatter(plan, bucket, bytes, destinations);
    }

    /** Hands each bucket to the application. */
    static Applier deliverTo(BucketPlan plan, BucketConsumer consumer) {
        return (version, bucket, bytes) -> consumer.accept(new ReceivedBucket(plan, version, bucket, bytes));
    }

    @Override
    public boolean touched() {
        return touched;
    }

    /**
     * Receives every bucket of one update; in place, also applies them. Before returning normally every applied
     * bucket has been applied.
     */
    @Override
    public void receive(long version, Transport.Group anyGroup, int rank, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) {
        Transport.HostGroup group = (Transport.HostGroup) anyGroup;
        touched = false;
        // A previous, failed update may have left an apply task running on a buffer we are about to fill.
        for (int i = 0; i < 2; i++) {
            Pipelines.awaitSettled(applied[i], deadlineNanos, rank, "the previous update's apply");
            applied[i] = null;
        }
        int n = plan.bucketCount();
        for (int k = 0; k < n; k++) {
            long waitStart = System.nanoTime();
            if (mode == CommitMode.IN_PLACE) {
                Pipelines.await(applied[k % 2], deadlineNanos, rank, "applying bucket " + (k - 2));
            }
            long transferStart = System.nanoTime();
            MemorySegment slot = slot(k);
            group.broadcast(slot, new Transport.BucketTag(version, k, n), deadlineNanos);
            long end = System.nanoTime();
            if (mode == CommitMode.IN_PLACE) {
                int bucket = k;
                touched = true;
                applied[k % 2] = applyThread.submit(() -> {
                    applier.apply(version, bucket, slot);
                    return null;
                });
            }
            progress.accept(new BucketProgress(version, rank, k, n, slot.byteSize(),
                    Pipelines.seconds(transferStart - waitStart), Pipelines.seconds(end - transferStart),
                    Pipelines.seconds(end - startNanos)));
        }
        if (mode == CommitMode.IN_PLACE) {
            for (int k = Math.max(0, n - 2); k < n; k++) {
                Pipelines.await(applied[k % 2], deadlineNanos, rank, "applying bucket " + k);
            }
        }
    }

    /**
     * Staged mode, after every bucket arrived and validated: applies them all, in order, on this thread, each only
     * while the update is still wanted and on time.
     */
    @Override
    public void applyStaged(long version, long deadlineNanos, Runnable throwIfFailed) throws Exception {
        if (mode != CommitMode.STAGED) {
            return;
        }
        for (int k = 0; k < plan.bucketCount(); k++) {
            Pipelines.checkApplyStaged(k, plan.bucketCount(), deadlineNanos, throwIfFailed);
            touched = true;
            applier.apply(version, k, slots[k]);
        }
    }

    private MemorySegment slot(int bucket) {
        return mode == CommitMode.STAGED ? slots[bucket] : slots[bucket % 2].asSlice(0, plan.bucketByteSize(bucket));
    }

    @Override
    public long bufferBytes() {
        long bytes = 0;
        for (MemorySegment s : slots) {
            bytes += s.byteSize();
        }
        return mode == CommitMode.STAGED && slots.length > 0 ? plan.totalBucketBytes() : bytes;
    }

    @Override
    public void close() {
        Pipelines.stop(applyThread);
        arena.close();
    }
}
