package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Receiver data path over host memory. The receive loop is shared: the transport checks every bucket's header,
 * fills the bucket's spans and checksums the bytes as they arrive, on the thread in {@code awaitUpdate}. Where a
 * bucket lands and when it is applied is the subclass: {@link HostStaged} (one staging area of the plan's total
 * bucket bytes, every bucket at its own offset, nothing applied until all arrived and validated, then all in
 * order), {@link HostInPlace} (delivered in place: two bucket buffers; bucket k is handed to the application on the
 * apply thread while bucket k+1 arrives) or {@link HostDirect} (scattered in place: no bucket buffer, every bucket
 * read straight into the destination tensors).
 */
abstract sealed class HostReceiverPipeline implements ReceiverPipeline<HostSpanGroup>
        permits HostReceiverPipeline.HostStaged, HostReceiverPipeline.HostInPlace, HostReceiverPipeline.HostDirect {
    /** Applies one validated bucket: scatter into destinations, or hand to the application. */
    @FunctionalInterface
    interface Applier {
        void apply(long version, int bucket, MemorySegment bytes) throws Exception;
    }

    final BucketPlan plan;
    final NativeMemoryLedger.TrackedArena arena = new NativeMemoryLedger.TrackedArena();
    final long alignment;
    boolean touched;

    private HostReceiverPipeline(BucketPlan plan) {
        this.plan = plan;
        this.alignment = Math.min(plan.alignment(), 4096);
    }

    /**
     * The pipeline that scatters every bucket into {@code destinations} (one writable segment per tensor, index =
     * tensor index): staged, or straight into them in place.
     *
     * @throws IllegalArgumentException naming a read-only destination
     */
    static HostReceiverPipeline scattering(BucketPlan plan, CommitMode mode, MemorySegment[] destinations) {
        for (int t = 0; t < destinations.length; t++) {
            if (destinations[t].isReadOnly()) {
                throw new IllegalArgumentException("destination for tensor " + plan.tensor(t).name() + " is read-only");
            }
        }
        return switch (mode) {
            case STAGED -> new HostStaged(plan,
                    (version, bucket, bytes) -> HostBucketPacker.scatter(plan, bucket, bytes, destinations));
            case IN_PLACE -> new HostDirect(plan, destinations);
        };
    }

    /** The pipeline that hands every bucket to {@code consumer}. */
    static HostReceiverPipeline delivering(BucketPlan plan, CommitMode mode, BucketConsumer consumer) {
        Applier deliver = (version, bucket, bytes) -> consumer.accept(new ReceivedBucket(plan, version, bucket, bytes));
        return switch (mode) {
            case STAGED -> new HostStaged(plan, deliver);
            case IN_PLACE -> new HostInPlace(plan, deliver);
        };
    }

    @Override
    public final boolean touched() {
        return touched;
    }

    @Override
    public final void receive(long version, HostSpanGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) throws Exception {
        touched = false;
        int rank = group.rank();
        beforeFirstBucket(deadlineNanos, rank);
        int n = plan.bucketCount();
        for (int k = 0; k < n; k++) {
            long waitStart = System.nanoTime();
            ByteBuffer[] spans = spansFor(k, deadlineNanos, rank);
            long transferStart = System.nanoTime();
            long bytes = plan.bucketByteSize(k);
            group.receive(spans, bytes, new Transport.BucketTag(version, k, n), this::landing, deadlineNanos);
            long end = System.nanoTime();
            arrived(version, k);
            progress.accept(new BucketProgress(version, rank, k, n, bytes, Pipelines.seconds(transferStart - waitStart),
                    Pipelines.seconds(end - transferStart), Pipelines.seconds(end - startNanos)));
        }
        afterLastBucket(deadlineNanos, rank);
    }

    /** Before an update's first bucket. */
    void beforeFirstBucket(long deadlineNanos, int rank) {
    }

    /** The spans bucket {@code k} lands in, once that memory is free. */
    abstract ByteBuffer[] spansFor(int k, long deadlineNanos, int rank) throws Exception;

    /** Bucket {@code k}'s header is valid: its bytes are about to land. */
    void landing() {
    }

    /** Bucket {@code k} arrived and passed its checksum. */
    abstract void arrived(long version, int k);

    /** After the last bucket arrived. */
    void afterLastBucket(long deadlineNanos, int rank) throws Exception {
    }

    /** Staged: every bucket lands at its own offset of one staging area and is applied only in {@link #commit}. */
    static final class HostStaged extends HostReceiverPipeline {
        private final Applier applier;
        private final MemorySegment[] slots;
        private final ByteBuffer[][] spans;

        HostStaged(BucketPlan plan, Applier applier) {
            super(plan);
            this.applier = applier;
            int n = plan.bucketCount();
            slots = new MemorySegment[n];
            spans = new ByteBuffer[n][];
            if (n > 0) {
                MemorySegment staging = arena.allocate(plan.totalBucketBytes(), alignment);
                long offset = 0;
                for (int k = 0; k < n; k++) {
                    slots[k] = staging.asSlice(offset, plan.bucketByteSize(k));
                    spans[k] = HostTcpTransport.chunks(slots[k]);
                    offset += plan.bucketByteSize(k);
                }
            }
        }

        @Override
        ByteBuffer[] spansFor(int k, long deadlineNanos, int rank) {
            // nothing of an earlier update can still read the staging area: commit applies on the caller's thread
            return spans[k];
        }

        @Override
        void arrived(long version, int k) {
            // applied in commit, once every bucket is here
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

    /** Delivered in place: two bucket buffers, each bucket handed over on the apply thread while the next arrives. */
    static final class HostInPlace extends HostReceiverPipeline {
        private final Applier applier;
        private final MemorySegment[] buffers;
        private final ExecutorService applyThread = Pipelines.worker("sync-receiver-apply");
        private final Future<?>[] applied = new Future<?>[2];

        HostInPlace(BucketPlan plan, Applier applier) {
            super(plan);
            this.applier = applier;
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
        ByteBuffer[] spansFor(int k, long deadlineNanos, int rank) throws Exception {
            Pipelines.await(applied[k % 2], deadlineNanos, rank, "applying bucket " + (k - 2));
            return HostTcpTransport.chunks(slot(k));
        }

        private MemorySegment slot(int k) {
            return buffers[k % 2].asSlice(0, plan.bucketByteSize(k));
        }

        @Override
        void arrived(long version, int k) {
            touched = true;
            MemorySegment slot = slot(k);
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

    /**
     * Scattered in place, without a bucket buffer: each bucket is read straight into the destination tensors
     * ({@link BucketSpans}: scattering reads; small tensors and padding through one small local buffer, copied out
     * once the bucket passed its checksum), all on this thread. The bytes land before the checksum that covers them
     * is checked: from the first bucket's valid header on, a failed update (a corrupt bucket included) leaves the
     * weights torn.
     */
    static final class HostDirect extends HostReceiverPipeline {
        private final BucketSpans[] buckets;
        private final long localBytes;

        HostDirect(BucketPlan plan, MemorySegment[] destinations) {
            super(plan);
            int n = plan.bucketCount();
            BucketSpans.Layout[] layouts = new BucketSpans.Layout[n];
            long most = 0;
            for (int k = 0; k < n; k++) {
                layouts[k] = BucketSpans.layout(plan, k, destinations, BucketSpans.Side.RECEIVING);
                most = Math.max(most, layouts[k].localBytes());
            }
            localBytes = most;
            MemorySegment local = most > 0 ? arena.allocate(most, 64) : MemorySegment.NULL;
            buckets = new BucketSpans[n];
            for (int k = 0; k < n; k++) {
                buckets[k] = layouts[k].bind(local);
            }
        }

        @Override
        ByteBuffer[] spansFor(int k, long deadlineNanos, int rank) {
            return buckets[k].spans(); // the local buffer is free: the previous bucket was copied out of it
        }

        @Override
        void landing() {
            touched = true;
        }

        @Override
        void arrived(long version, int k) {
            buckets[k].unstage();
        }

        @Override
        public void commit(long version, long deadlineNanos, Runnable throwIfFailed) {
            // every bucket landed in place
        }

        @Override
        public long bufferBytes() {
            return localBytes;
        }

        @Override
        public void close() {
            arena.close();
        }
    }
}
