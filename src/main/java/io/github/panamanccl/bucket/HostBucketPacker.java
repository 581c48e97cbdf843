package io.github.panamanccl.bucket;

import io.github.panamanccl.NativeAccess;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/**
 * Packs tensors into a host bucket and scatters a host bucket back into tensors, with bulk
 * {@link MemorySegment#copy} only: no native call, no per-element work.
 *
 * <p>Speed: a large bucket is split into contiguous byte ranges of about equal size, one per thread, copied in
 * parallel on the {@linkplain ForkJoinPool#commonPool() common pool} (the calling thread takes one range); the result
 * is byte for byte the same whatever the parallelism. Pieces that follow each other without a gap in the bucket and
 * in memory (tensors carved from one buffer in plan order) are copied as one range. Large single copies matter on
 * the host: the JDK's copy routine switches to cache-bypassing stores for copies of a few MiB (2.5 MiB with
 * HotSpot's AVX-512 routine), measured at 1.3 to 2 times the bytes per second of smaller copies.
 */
public final class HostBucketPacker {
    /**
     * Least bytes per thread: below this, handing a range to another thread costs more than it saves, and split
     * copies would fall under the size where the JDK's copy bypasses the cache.
     */
    static final long MIN_BYTES_PER_THREAD = 8L << 20;
    /** Split points are multiples of a cache line, so two threads never write the same line. */
    private static final long SPLIT_ALIGNMENT = 64;
    /** A thread that owns nothing: segments it may access are accessible from any thread. */
    private static final Thread ANOTHER_THREAD = Thread.ofPlatform().unstarted(() -> { });

    private HostBucketPacker() {
    }

    /** {@link #pack(BucketPlan, int, MemorySegment[], MemorySegment, int)} with one thread per available processor. */
    public static void pack(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes) {
        pack(plan, bucket, tensors, bucketBytes, defaultParallelism());
    }

    /**
     * Copies the pieces of bucket {@code bucket} from the tensors into {@code bucketBytes} and zeroes the padding,
     * so the first {@code plan.bucketByteSize(bucket)} bytes are fully determined by the plan and the tensors.
     * Every segment is checked before any byte is copied.
     *
     * @param tensors     one segment per tensor of the plan (index = tensor index), each exactly the tensor's
     *                    bytes; entries for tensors without a piece in this bucket are not read and may be null
     * @param bucketBytes at least {@code plan.bucketByteSize(bucket)} bytes; bytes past that are not touched
     * @param parallelism most threads to copy with, the caller included; 1 copies on the calling thread only. Segments
     *                    confined to the calling thread are always copied on it.
     */
    public static void pack(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes,
                            int parallelism) {
        pack(plan, bucket, tensors, bucketBytes, parallelism, MIN_BYTES_PER_THREAD);
    }

    /** {@link #pack(BucketPlan, int, MemorySegment[], MemorySegment, int)} with another split threshold (tests). */
    static void pack(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes, int parallelism,
                     long minBytesPerThread) {
        copy(plan, bucket, tensors, bucketBytes, parallelism, minBytesPerThread, true);
    }

    /** {@link #scatter(BucketPlan, int, MemorySegment, MemorySegment[], int)} with one thread per available processor. */
    public static void scatter(BucketPlan plan, int bucket, MemorySegment bucketBytes, MemorySegment[] tensors) {
        scatter(plan, bucket, bucketBytes, tensors, defaultParallelism());
    }

    /**
     * Copies the pieces of bucket {@code bucket} out of {@code bucketBytes} into the tensors. A split tensor is
     * complete once the buckets of all its pieces have been scattered into the same destination. Every segment is
     * checked before any byte is copied.
     *
     * @param bucketBytes at least {@code plan.bucketByteSize(bucket)} bytes
     * @param tensors     one destination segment per tensor (index = tensor index), each exactly the tensor's bytes;
     *                    entries for tensors without a piece in this bucket are not touched and may be null
     * @param parallelism most threads to copy with, the caller included; 1 copies on the calling thread only. Segments
     *                    confined to the calling thread are always copied on it.
     */
    public static void scatter(BucketPlan plan, int bucket, MemorySegment bucketBytes, MemorySegment[] tensors,
                               int parallelism) {
        scatter(plan, bucket, bucketBytes, tensors, parallelism, MIN_BYTES_PER_THREAD);
    }

    /** {@link #scatter(BucketPlan, int, MemorySegment, MemorySegment[], int)} with another split threshold (tests). */
    static void scatter(BucketPlan plan, int bucket, MemorySegment bucketBytes, MemorySegment[] tensors, int parallelism,
                        long minBytesPerThread) {
        copy(plan, bucket, tensors, bucketBytes, parallelism, minBytesPerThread, false);
    }

    private static int defaultParallelism() {
        return Runtime.getRuntime().availableProcessors();
    }

    private static void copy(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes,
                             int parallelism, long minBytesPerThread, boolean pack) {
        checkArguments(plan, bucket, tensors, bucketBytes);
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism = " + parallelism + ": below 1");
        }
        if (pack && bucketBytes.isReadOnly()) {
            throw new IllegalArgumentException("bucket " + bucket + ": the segment to pack into is read-only");
        }
        boolean shareable = checkTensors(plan, bucket, tensors, !pack) && bucketBytes.isAccessibleBy(ANOTHER_THREAD);
        long size = plan.bucketByteSize(bucket);
        long ranges = shareable ? Math.min(parallelism, size / minBytesPerThread) : 1;
        if (ranges <= 1) {
            copyRange(plan, bucket, tensors, bucketBytes, 0, size, pack);
            return;
        }
        List<ForkJoinTask<?>> tasks = new ArrayList<>((int) ranges);
        for (long i = 0; i < ranges; i++) {
            long from = splitPoint(size, i, ranges);
            long to = splitPoint(size, i + 1, ranges);
            tasks.add(ForkJoinTask.adapt(() -> copyRange(plan, bucket, tensors, bucketBytes, from, to, pack)));
        }
        ForkJoinTask.invokeAll(tasks);
    }

    /** Start of range {@code i} of {@code ranges}, on a cache line; the last range ends at {@code size}. */
    private static long splitPoint(long size, long i, long ranges) {
        return i == ranges ? size : size / ranges * i / SPLIT_ALIGNMENT * SPLIT_ALIGNMENT;
    }

    /**
     * Copies the bucket bytes {@code [from, to)}: the parts of the pieces inside it and, when packing, zeros for the
     * padding inside it. A run of pieces adjacent both in the bucket and in memory is copied at once.
     */
    @SuppressWarnings("restricted") // the one reinterpret below is explained where it is called
    private static void copyRange(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes,
                                  long from, long to, boolean pack) {
        int end = plan.firstPieceOfBucket(bucket + 1);
        long cursor = from;
        int p = firstPieceEndingAfter(plan, bucket, from);
        while (p < end && plan.pieceOffset(p) < to) {
            long pieceStart = plan.pieceOffset(p);
            long start = Math.max(pieceStart, from);
            if (pack && start > cursor) {
                bucketBytes.asSlice(cursor, start - cursor).fill((byte) 0);
            }
            MemorySegment first = tensors[plan.pieceTensor(p)];
            long firstOffset = plan.pieceTensorOffset(p) + (start - pieceStart);
            long stop = Math.min(pieceStart + plan.pieceLength(p), to);
            MemorySegment last = first;
            long lastEnd = firstOffset + (stop - start);
            int next = p + 1;
            while (stop < to && next < end && continuesRun(plan, tensors, first, last, lastEnd, stop, next)) {
                last = tensors[plan.pieceTensor(next)];
                stop = Math.min(plan.pieceOffset(next) + plan.pieceLength(next), to);
                lastEnd = stop - plan.pieceOffset(next);
                next++;
            }
            long length = stop - start;
            MemorySegment source = first;
            if (next > p + 1) {
                // Restricted method, but safe here: every segment of the run shares the first one's lifetime and the
                // run's bytes are exactly theirs, so the widened view covers no other memory.
                source = first.reinterpret(firstOffset + length);
            }
            if (pack) {
                MemorySegment.copy(source, firstOffset, bucketBytes, start, length);
            } else {
                MemorySegment.copy(bucketBytes, start, source, firstOffset, length);
            }
            cursor = stop;
            p = next;
        }
        if (pack && cursor < to) {
            bucketBytes.asSlice(cursor, to - cursor).fill((byte) 0);
        }
    }

    /**
     * Whether piece {@code next} continues a run without a gap: it starts at {@code bucketEnd} in the bucket, the
     * run has reached the end of its last segment {@code last}, and the piece's segment starts right after it in
     * memory with the same lifetime as the run's first segment.
     */
    private static boolean continuesRun(BucketPlan plan, MemorySegment[] tensors, MemorySegment first, MemorySegment last,
                                        long lastEnd, long bucketEnd, int next) {
        if (plan.pieceOffset(next) != bucketEnd || lastEnd != last.byteSize() || !first.isNative()) {
            return false;
        }
        MemorySegment segment = tensors[plan.pieceTensor(next)];
        return segment.isNative() && plan.pieceTensorOffset(next) == 0
                && segment.address() == last.address() + last.byteSize()
                && segment.scope().equals(first.scope())
                && Widening.ALLOWED;
    }

    /**
     * Whether the JVM lets the packer widen a segment over a run (a restricted method), asked once, when the first
     * run forms. When it refuses (--illegal-native-access=deny without --enable-native-access), runs are copied
     * piece by piece, the same bytes, and a warning names the option that allows the single copy.
     */
    private static final class Widening {
        static final boolean ALLOWED = probe();

        private static boolean probe() {
            try {
                MemorySegment.NULL.reinterpret(0);
                return true;
            } catch (IllegalCallerException denied) {
                System.getLogger(HostBucketPacker.class.getName()).log(System.Logger.Level.WARNING,
                        "native access is denied to " + NativeAccess.location() + ", so HostBucketPacker copies tensors"
                                + " that are adjacent slices of one buffer one by one instead of as one run (the same"
                                + " bytes, more copies); run java with " + NativeAccess.flag() + " to allow the single"
                                + " copy");
                return false;
            }
        }
    }

    /** The first piece of {@code bucket} that ends after bucket offset {@code offset} (binary search). */
    private static int firstPieceEndingAfter(BucketPlan plan, int bucket, long offset) {
        int low = plan.firstPieceOfBucket(bucket);
        int high = plan.firstPieceOfBucket(bucket + 1);
        while (low < high) {
            int middle = (low + high) >>> 1;
            if (plan.pieceOffset(middle) + plan.pieceLength(middle) <= offset) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return low;
    }

    private static void checkArguments(BucketPlan plan, int bucket, MemorySegment[] tensors, MemorySegment bucketBytes) {
        if (bucket < 0 || bucket >= plan.bucketCount()) {
            throw new IndexOutOfBoundsException("bucket " + bucket + " of " + plan.bucketCount());
        }
        if (tensors.length != plan.tensorCount()) {
            throw new IllegalArgumentException(tensors.length + " tensor segments for a plan of " + plan.tensorCount() + " tensors");
        }
        if (bucketBytes.byteSize() < plan.bucketByteSize(bucket)) {
            throw new IllegalArgumentException("bucket " + bucket + " has " + plan.bucketByteSize(bucket)
                    + " bytes, the segment only " + bucketBytes.byteSize());
        }
    }

    /**
     * Checks that every tensor with a piece in {@code bucket} has a segment of exactly its size, a writable one when
     * {@code written}; returns whether all of them may be accessed from other threads.
     */
    private static boolean checkTensors(BucketPlan plan, int bucket, MemorySegment[] tensors, boolean written) {
        boolean shareable = true;
        for (int p = plan.firstPieceOfBucket(bucket), to = plan.firstPieceOfBucket(bucket + 1); p < to; p++) {
            int t = plan.pieceTensor(p);
            MemorySegment segment = tensors[t];
            if (segment == null || segment.byteSize() != plan.tensor(t).byteSize()) {
                throw new IllegalArgumentException("tensor " + t + " (" + plan.tensor(t).name() + ") needs a segment of "
                        + plan.tensor(t).byteSize() + " bytes, got " + (segment == null ? "null" : segment.byteSize()));
            }
            if (written && segment.isReadOnly()) {
                throw new IllegalArgumentException("tensor " + t + " (" + plan.tensor(t).name() + ") has a read-only segment");
            }
            shareable &= segment.isAccessibleBy(ANOTHER_THREAD);
        }
        return shareable;
    }
}
