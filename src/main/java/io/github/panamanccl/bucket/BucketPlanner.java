package io.github.panamanccl.bucket;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Lays an ordered inventory out in buckets, in one O(n) pass; deterministic (same inputs, same plan).
 *
 * <p>Tensors are placed in inventory order, each at the next multiple of the alignment in the current bucket. A
 * tensor that does not fit in the rest of the current bucket starts a new bucket if it fits in an empty one.
 * A tensor larger than the cap is split ({@link LargeTensors#SPLIT}, the default): it fills the rest of the current
 * bucket, then as many buckets as it needs, and the following tensors continue after its last piece. Splits fall on
 * element boundaries. Empty tensors take no space.
 */
public final class BucketPlanner {
    /** What the planner does with a tensor larger than the bucket cap. */
    public enum LargeTensors {
        /** Split it across consecutive buckets, each at most the cap (the default). */
        SPLIT,
        /**
         * Give it a bucket of its own, exactly its size, so no tensor is ever split; the plan's
         * {@link BucketPlan#bucketCapBytes()} becomes the larger of the requested cap and the largest such tensor.
         *
         * <p>Trade-off: every tensor is contiguous in each bucket, so plan-layout storage can hold any plan in one
         * segment per bucket ({@link StorageSegments#ONE_PER_BUCKET}); but the largest bucket is as large as the
         * largest tensor (Qwen3-30B-A3B: its 593 MiB embedding and output head against a 64 MiB cap). Paths that
         * pack into reusable bucket buffers size them by {@link BucketPlan#maxBucketByteSize()}, so they hold that
         * much more memory, and a huge bucket is one transfer that cannot overlap with the packing or scattering
         * of its neighbours.
         */
        OWN_BUCKET
    }

    private BucketPlanner() {
    }

    /** Plans with {@link BucketPlan#DEFAULT_ALIGNMENT}. */
    public static BucketPlan plan(List<TensorSpec> inventory, long bucketCapBytes) {
        return plan(inventory, bucketCapBytes, BucketPlan.DEFAULT_ALIGNMENT);
    }

    /**
     * Plans an inventory.
     *
     * @param inventory      tensors in the order sender and receiver agree on; names unique
     * @param bucketCapBytes most bytes per bucket, at least {@value DType#MAX_BYTE_SIZE}
     * @param alignment      start alignment of every tensor (and piece), a power of two
     * @throws IllegalArgumentException for a bad cap or alignment, duplicate names, or a plan over the size limits
     *                                  of {@link BucketPlan}
     */
    public static BucketPlan plan(List<TensorSpec> inventory, long bucketCapBytes, long alignment) {
        return plan(inventory, bucketCapBytes, alignment, LargeTensors.SPLIT);
    }

    /**
     * Plans an inventory, choosing what happens to tensors larger than the cap.
     *
     * @param largeTensors {@link LargeTensors#SPLIT} gives the same plan as {@link #plan(List, long, long)};
     *                     {@link LargeTensors#OWN_BUCKET} never splits a tensor
     * @throws IllegalArgumentException as {@link #plan(List, long, long)}
     */
    public static BucketPlan plan(List<TensorSpec> inventory, long bucketCapBytes, long alignment,
                                  LargeTensors largeTensors) {
        Objects.requireNonNull(largeTensors, "largeTensors");
        if (bucketCapBytes < DType.MAX_BYTE_SIZE) {
            throw new IllegalArgumentException("bucketCapBytes = " + bucketCapBytes + ": below " + DType.MAX_BYTE_SIZE);
        }
        BucketPlan.checkHeader(bucketCapBytes, alignment, inventory.size(), 0, 0);
        TensorSpec[] tensors = inventory.toArray(new TensorSpec[0]);
        return new Layout(tensors, bucketCapBytes, alignment, largeTensors == LargeTensors.SPLIT).run();
    }

    /** Mutable state of one planning pass. */
    private static final class Layout {
        private final TensorSpec[] tensors;
        private final long cap;
        private final long alignment;
        private final boolean split;
        private final int[] firstPiece;
        private int[] pieceBucket;
        private long[] pieceOffset;
        private long[] pieceLength;
        private int pieces;
        private long[] bucketSizes = new long[16];
        private int buckets;
        /** Bytes used in the current bucket ({@code buckets - 1}); no bucket is open while buckets == 0. */
        private long cursor;

        Layout(TensorSpec[] tensors, long cap, long alignment, boolean split) {
            this.tensors = tensors;
            this.cap = cap;
            this.alignment = alignment;
            this.split = split;
            this.firstPiece = new int[tensors.length + 1];
            int guess = tensors.length + 16;
            this.pieceBucket = new int[guess];
            this.pieceOffset = new long[guess];
            this.pieceLength = new long[guess];
        }

        BucketPlan run() {
            for (int t = 0; t < tensors.length; t++) {
                firstPiece[t] = pieces;
                place(tensors[t]);
            }
            firstPiece[tensors.length] = pieces;
            closeBucket();
            long[] sizes = Arrays.copyOf(bucketSizes, buckets);
            long largest = Arrays.stream(sizes).max().orElse(0); // above the cap only with OWN_BUCKET
            return BucketPlan.of(Math.max(cap, largest), alignment, tensors, sizes, firstPiece,
                    Arrays.copyOf(pieceBucket, pieces), Arrays.copyOf(pieceOffset, pieces), Arrays.copyOf(pieceLength, pieces));
        }

        private void place(TensorSpec tensor) {
            long size = tensor.byteSize();
            if (size == 0) {
                return;
            }
            long offset = (cursor + alignment - 1) & -alignment;
            if (buckets > 0 && offset <= cap && size <= cap - offset) {
                addPiece(offset, size);
                return;
            }
            if (!split && size > BucketPlan.MAX_BUCKET_CAP) {
                throw new IllegalArgumentException(tensor + " has " + size + " bytes, more than a bucket may hold ("
                        + BucketPlan.MAX_BUCKET_CAP + "): plan it with LargeTensors.SPLIT");
            }
            if (size <= cap || !split) {
                openBucket();
                addPiece(0, size);
                return;
            }
            long element = tensor.dtype().byteSize();
            long fullPiece = cap / element * element;
            if (size / fullPiece >= BucketPlan.MAX_PIECES - pieces) {
                throw new IllegalArgumentException(tensor + " needs about " + size / fullPiece
                        + " pieces of " + fullPiece + " bytes, above the limit of " + BucketPlan.MAX_PIECES + ": raise the cap");
            }
            long remaining = size;
            long room = buckets > 0 && offset < cap ? (cap - offset) / element * element : 0;
            if (room > 0) {
                addPiece(offset, room);
                remaining -= room;
            }
            while (remaining > 0) {
                openBucket();
                long length = Math.min(remaining, fullPiece);
                addPiece(0, length);
                remaining -= length;
            }
        }

        private void openBucket() {
            closeBucket();
            if (buckets == BucketPlan.MAX_BUCKETS) {
                throw new IllegalArgumentException("more than " + BucketPlan.MAX_BUCKETS + " buckets: raise the cap");
            }
            if (buckets == bucketSizes.length) {
                bucketSizes = Arrays.copyOf(bucketSizes, buckets * 2);
            }
            buckets++;
            cursor = 0;
        }

        private void closeBucket() {
            if (buckets > 0) {
                bucketSizes[buckets - 1] = cursor;
            }
        }

        private void addPiece(long offset, long length) {
            if (pieces == pieceBucket.length) {
                if (pieces == BucketPlan.MAX_PIECES) {
                    throw new IllegalArgumentException("more than " + BucketPlan.MAX_PIECES + " pieces: raise the cap");
                }
                int grown = (int) Math.min(BucketPlan.MAX_PIECES, pieces + (pieces >> 1) + 16L);
                pieceBucket = Arrays.copyOf(pieceBucket, grown);
                pieceOffset = Arrays.copyOf(pieceOffset, grown);
                pieceLength = Arrays.copyOf(pieceLength, grown);
            }
            pieceBucket[pieces] = buckets - 1;
            pieceOffset[pieces] = offset;
            pieceLength[pieces] = length;
            pieces++;
            cursor = offset + length;
        }
    }
}
