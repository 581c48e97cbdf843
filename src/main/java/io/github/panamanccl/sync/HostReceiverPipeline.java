package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Receiver data path over host memory. The receive loop is shared; where a bucket lands and when it is applied is
 * the subclass: {@link HostStaged} (one staging area of the plan's total bucket bytes, every bucket at its own
 * offset, nothing applied until all arrived and validated, then all in order) or {@link HostInPlace} (two bucket
 * buffers; bucket k is applied on the apply thread while bucket k+1 arrives, and a buffer receives again only after
 * its previous bucket was applied).
 */
abstract sealed class HostReceiverPipeline implements ReceiverPipeline<Transport.HostGroup>
        permits HostReceiverPipeline.HostStaged, HostReceiverPipeline.HostInPlace {
    /** Applies one validated bucket: scatter into destinations, or hand to the application. */
    @FunctionalInterface
    interface Applier {
        void apply(long version, int bucket, MemorySegment bytes) throws Exception;
    }

    final BucketPlan plan;
    final Applier applier;
    final NativeMemoryLedger.TrackedArena arena = new NativeMemoryLedger.TrackedArena();
    final long alignment;
    boolean touched;

    private HostReceiverPipeline(BucketPlan plan, Applier applier) {
        this.plan = plan;
        this.applier = applier;
        this.alignment = Math.min(plan.alignment(), 4096);
    }

    /** The pipeline of {@code mode}. */
    static HostReceiverPipeline create(BucketPlan plan, CommitMode mode, Applier applier) {
        return switch (mode) {
            case STAGED -> new HostStaged(plan, applier);
            case IN_PLACE -> new HostInPlace(plan, applier);
        };
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
    public final boolean touched() {
        return touched;
    }

    @Override
    public final void receive(long version, Transport.HostGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) throws Exception {
        touched = false;
        int rank = group.rank();
        beforeFirstBucket(deadlineNanos, rank);
        int n = plan.bucketCount();
        for (int k = 0; k < n; k++) {
            long waitStart = System.nanoTime();
            MemorySegment slot = slotFor(k, deadlineNanos, rank);
            long transferStart = System.nanoTime();
            group.broadcast(slot, new Transport.BucketTag(version, k, n), deadlineNanos);
            long end = System.nanoTime();
            arrived(version, k, slot);
            progress.accept(new BucketProgress(version, rank, k, n, slot.byteSize(),
                    Pipelines.seconds(transferStart - waitStart), Pipelines.seconds(end - transferStart),
                    Pipelines.seconds(end - startNanos)));
        }
        afterLastBucket(deadlineNanos, rank);
    }

    /** Before an update's first bucket. */
    abstract void beforeFirstBucket(long deadlineNanos, int rank);

    /** Where bucket {@code k} lands, once that memory is free. */
    abstract MemorySegment slotFor(int k, long deadlineNanos, int rank) throws Exception;

    /** Bucket {@code k} arrived and validated in {@code slot}. */
    abstract void arrived(long version, int k, MemorySegment slot);

    /** After the last bucket arrived. */
    abstract void afterLastBucket(long deadlineNanos, int rank) throws Exception;

    /** Staged: every bucket lands at its own offset of one staging area and is applied only in {@link #commit}. */
    static final class HostStaged extends HostReceiverPipeline {
        private final MemorySegment[] slots;

        HostStaged(BucketPlan plan, Applier applier) {
            super(plan, applier);
            int n = plan.bucketCount();
            slots = new MemorySegment[n];
            if (n > 0) {
                MemorySegment staging = arena.allocate(plan.totalBucketBytes(), alignment);
                long offset = 0;
                for (int k = 0; k < n; k++) {
                    slots[k] = staging.asSlice(offset, plan.bucketByteSize(k));
                    offset += plan.bucketByteSize(k);
                }
            }
        }

        @Override
        void beforeFirstBucket(long deadlineNanos, int rank) {
            // nothing of an earlier update can still read the staging area: commit applies on the caller's thread
        }

        @Override
        MemorySegment slotFor(int k, long deadlineNanos, int rank) {
            return slots[k];
        }

        @Override
        void arrived(long version, int k, MemorySegment slot) {
            // applied in commit, once every bucket is here
        }

        @Override
        void afterLastBucket(long deadlineNanos, int rank) {
            // see arrived
        }

        /** Applies every bucket, in order, on this thread, each only while the update is still wanted and on time. */
        @Override
        public void commit(long version, long deadlineNanos, Runnable throwIfFailed) throws Exception {
            for (int k = 0; k < slots.length; k++) {
                Pipelines.checkApplyStaged(k, slots.length, deadlineNanos, throwIfFailed);
                touched = true;
                applier.apply(version, k, slots[k]);
            }
        }

        @Override
        public long bufferBytes() {
            return slots.length > 0 ? plan.totalBucketBytes() : 0;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /** In place: two bucket buffers, each bucket applied on the apply thread while the next one arrives. */
    static final class HostInPlace extends HostReceiverPipeline {
        private final MemorySegment[] buffers;
        private final ExecutorService applyThread = Pipelines.worker("sync-receiver-apply");
        private final Future<?>[] applied = new Future<?>[2];

        HostInPlace(BucketPlan plan, Applier applier) {
            super(plan, applier);
            buffers = new MemorySegment[Math.min(2, plan.bucketCount())];
            try {
                for (int i = 0; i < buffers.length; i++) {
                    buffers[i] = arena.allocate(plan.maxBucketByteSize(), alignment);
                }
            } catch (RuntimeException | Error e) {
                arena.close(); // the first buffer, when the second cannot be had
                throw e;
            }
        }

        /** A previous, failed update may have left an apply task running on a buffer about to be filled. */
        @Override
        void beforeFirstBucket(long deadlineNanos, int rank) {
            for (int i = 0; i < applied.length; i++) {
                Pipelines.awaitSettled(applied[i], deadlineNanos, rank, "the previous update's apply");
                applied[i] = null;
            }
        }

        @Override
        MemorySegment slotFor(int k, long deadlineNanos, int rank) throws Exception {
            Pipelines.await(applied[k % 2], deadlineNanos, rank, "applying bucket " + (k - 2));
            return buffers[k % 2].asSlice(0, plan.bucketByteSize(k));
        }

        @Override
        void arrived(long version, int k, MemorySegment slot) {
            touched = true;
            applied[k % 2] = applyThread.submit(() -> {
                applier.apply(version, k, slot);
                return null;
            });
        }

        @Override
        void afterLastBucket(long deadlineNanos, int rank) throws Exception {
            int n = plan.bucketCount();
            for (int k = Math.max(0, n - 2); k < n; k++) {
                Pipelines.await(applied[k % 2], deadlineNanos, rank, "applying bucket " + k);
            }
        }

        @Override
        public void commit(long version, long deadlineNanos, Runnable throwIfFailed) {
            // every bucket was applied as it arrived
        }

        @Override
        public long bufferBytes() {
            long bytes = 0;
            for (MemorySegment buffer : buffers) {
                bytes += buffer.byteSize();
            }
            return bytes;
        }

        @Override
        public void close() {
            Pipelines.stop(applyThread);
            arena.close();
        }
    }
}
