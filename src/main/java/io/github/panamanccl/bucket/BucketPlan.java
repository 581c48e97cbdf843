package io.github.panamanccl.bucket;

import io.github.panamanccl.DeviceMemory;

import java.lang.foreign.MemorySegment;
import java.util.AbstractList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Where every tensor of an ordered inventory lives inside a sequence of byte buckets; immutable and always valid.
 *
 * <p>Layout rules (checked for every instance, whether planned, {@linkplain PlanCodec#decode decoded} or
 * {@linkplain PlanJson#fromJson imported}):
 * <ul>
 * <li>A tensor with bytes occupies one or more <em>pieces</em>: byte ranges {@code [tensorOffset, tensorOffset +
 *     length)} of the tensor stored at {@code bucketOffset} in a bucket. Pieces cover the tensor exactly once, in
 *     order; a tensor with more than one piece is <em>split</em>, and its pieces lie in consecutive buckets.
 *     An empty tensor has no piece.</li>
 * <li>Every piece starts at a multiple of {@link #alignment()} and has a positive length that is a multiple of the
 *     element size (so each piece holds whole elements).</li>
 * <li>Pieces appear in inventory order: bucket indices never decrease and pieces within a bucket never overlap.</li>
 * <li>Every bucket holds at least one piece, its byte size is the end of its last piece, at most
 *     {@link #bucketCapBytes()}. Bytes of a bucket not covered by a piece are padding and are packed as zeros. The
 *     buckets' total byte size fits in a {@code long}.</li>
 * <li>Names are unique. Counts are bounded: {@value #MAX_TENSORS} tensors, {@value #MAX_BUCKETS} buckets,
 *     {@value #MAX_PIECES} pieces, {@value #MAX_TOTAL_NAME_BYTES} name bytes in all.</li>
 * </ul>
 *
 * <p>Views: a tensor stored in one piece can be viewed in place inside its bucket ({@link #hostView},
 * {@link #deviceView}); a split tensor cannot (its bytes are not contiguous): scatter it into a destination
 * ({@link HostBucketPacker#scatter}, {@link DeviceBucketPacker#scatter}) and view that ({@link HostTensorView#of},
 * {@link DeviceTensorView#of}). {@link #piecesOf(int)} gives the byte ranges of any tensor.
 *
 * <p>Storage is a handful of primitive arrays (about 40 bytes per tensor besides the specs).
 */
public final class BucketPlan {
    /** Default start alignment of tensors in a bucket, in bytes. */
    public static final long DEFAULT_ALIGNMENT = 256;
    /** Largest allowed alignment. */
    public static final long MAX_ALIGNMENT = 1L << 30;
    /** Largest allowed bucket cap. */
    public static final long MAX_BUCKET_CAP = 1L << 48;
    /** Most tensors in a plan. */
    public static final int MAX_TENSORS = 1 << 22;
    /** Most buckets in a plan. */
    public static final int MAX_BUCKETS = 1 << 22;
    /** Most pieces in a plan. */
    public static final int MAX_PIECES = 1 << 23;
    /** Most name bytes (UTF-8) in a plan, all names together. */
    public static final long MAX_TOTAL_NAME_BYTES = 64L << 20;

    /**
     * One stored byte range of a tensor.
     *
     * @param tensor       index of the tensor in the plan
     * @param bucket       index of the bucket holding the range
     * @param bucketOffset where the range starts in the bucket
     * @param tensorOffset where the range starts in the tensor's bytes
     * @param length       bytes in the range
     */
    public record Piece(int tensor, int bucket, long bucketOffset, long tensorOffset, long length) {
    }

    private final long bucketCapBytes;
    private final long alignment;
    private final TensorSpec[] tensors;
    private final long[] bucketSizes;
    /** Pieces of tensor t are [firstPiece[t], firstPiece[t + 1]). */
    private final int[] firstPiece;
    /** Pieces in bucket b are [bucketFirstPiece[b], bucketFirstPiece[b + 1]). */
    private final int[] bucketFirstPiece;
    private final int[] pieceTensor;
    private final int[] pieceBucket;
    private final long[] pieceOffset;
    private final long[] pieceLength;
    private final long[] pieceTensorOffset;
    private final Map<String, Integer> indexByName;
    private final long totalTensorBytes;
    private volatile String fingerprint;
    private volatile String inventoryFingerprint;

    private BucketPlan(long bucketCapBytes, long alignment, TensorSpec[] tensors, long[] bucketSizes,
                       int[] firstPiece, int[] pieceBucket, long[] pieceOffset, long[] pieceLength) {
        this.bucketCapBytes = bucketCapBytes;
        this.alignment = alignment;
        this.tensors = tensors;
        this.bucketSizes = bucketSizes;
        this.firstPiece = firstPiece;
        this.pieceBucket = pieceBucket;
        this.pieceOffset = pieceOffset;
        this.pieceLength = pieceLength;
        int pieces = pieceBucket.length;
        this.pieceTensor = new int[pieces];
        this.pieceTensorOffset = new long[pieces];
        this.bucketFirstPiece = new int[bucketSizes.length + 1];
        this.indexByName = HashMap.newHashMap(tensors.length);
        this.totalTensorBytes = validate();
    }

    /**
     * Checks every rule of the class on the given arrays (which the plan takes over) and builds the plan.
     *
     * @throws PlanFormatException naming the first field that breaks a rule
     */
    static BucketPlan of(long bucketCapBytes, long alignment, TensorSpec[] tensors, long[] bucketSizes,
                         int[] firstPiece, int[] pieceBucket, long[] pieceOffset, long[] pieceLength) {
        checkHeader(bucketCapBytes, alignment, tensors.length, bucketSizes.length, pieceBucket.length);
        if (firstPiece.length != tensors.length + 1 || firstPiece[0] != 0 || firstPiece[tensors.length] != pieceBucket.length
                || pieceOffset.length != pieceBucket.length || pieceLength.length != pieceBucket.length) {
            throw new IllegalStateException("inconsistent piece arrays"); // a bug of the caller, not bad input
        }
        return new BucketPlan(bucketCapBytes, alignment, tensors, bucketSizes, firstPiece, pieceBucket, pieceOffset,
                pieceLength);
    }

    /** Checks the plan-wide scalars; decoders call it before allocating anything sized by the counts. */
    static void checkHeader(long bucketCapBytes, long alignment, long tensorCount, long bucketCount, long pieceCount) {
        if (bucketCapBytes < 1 || bucketCapBytes > MAX_BUCKET_CAP) {
            throw new PlanFormatException("bucketCapBytes", bucketCapBytes, "outside [1, " + MAX_BUCKET_CAP + "]");
        }
        if (alignment < 1 || alignment > MAX_ALIGNMENT || Long.bitCount(alignment) != 1) {
            throw new PlanFormatException("alignment", alignment, "not a power of two in [1, " + MAX_ALIGNMENT + "]");
        }
        if (tensorCount < 0 || tensorCount > MAX_TENSORS) {
            throw new PlanFormatException("tensorCount", tensorCount, "outside [0, " + MAX_TENSORS + "]");
        }
        if (bucketCount < 0 || bucketCount > MAX_BUCKETS) {
            throw new PlanFormatException("bucketCount", bucketCount, "outside [0, " + MAX_BUCKETS + "]");
        }
        if (pieceCount < 0 || pieceCount > MAX_PIECES) {
            throw new PlanFormatException("pieceCount", pieceCount, "outside [0, " + MAX_PIECES + "]");
        }
    }

    /** Checks every rule and fills the derived arrays; returns the total tensor bytes. */
    private long validate() {
        long bucketBytes = 0;
        for (int b = 0; b < bucketSizes.length; b++) {
            if (bucketSizes[b] < 1 || bucketSizes[b] > bucketCapBytes) {
                throw new PlanFormatException("buckets[" + b + "].byteSize", bucketSizes[b],
                        "outside [1, bucketCapBytes = " + bucketCapBytes + "]");
            }
            if (bucketSizes[b] > Long.MAX_VALUE - bucketBytes) {
                throw new PlanFormatException("buckets[" + b + "].byteSize", bucketSizes[b],
                        "the buckets' total byte size overflows a long (" + bucketBytes + " before this bucket)");
            }
            bucketBytes += bucketSizes[b];
        }
        long nameBytes = 0;
        for (int t = 0; t < tensors.length; t++) {
            TensorSpec spec = tensors[t];
            nameBytes += spec.nameUtf8().length;
            if (nameBytes > MAX_TOTAL_NAME_BYTES) {
                throw new PlanFormatException("tensors[" + t + "].name", PlanFormatException.quote(spec.name()),
                        "names exceed " + MAX_TOTAL_NAME_BYTES + " bytes in all");
            }
            Integer earlier = indexByName.putIfAbsent(spec.name(), t);
            if (earlier != null) {
                throw new PlanFormatException("tensors[" + t + "].name", PlanFormatException.quote(spec.name()),
                        "duplicate of tensors[" + earlier + "]");
            }
        }
        int bucket = -1;
        long bucketEnd = 0;
        long total = 0;
        for (int t = 0; t < tensors.length; t++) {
            TensorSpec spec = tensors[t];
            int from = firstPiece[t];
            int to = firstPiece[t + 1];
            if (to < from) {
                throw new IllegalStateException("piece index runs backwards at tensor " + t);
            }
            if ((spec.byteSize() == 0) != (to == from)) {
                throw new PlanFormatException("tensors[" + t + "].pieces", to - from, spec.byteSize() == 0
                        ? "an empty tensor has no piece" : "a tensor of " + spec.byteSize() + " bytes needs pieces");
            }
            long covered = 0;
            for (int p = from; p < to; p++) {
                int pb = pieceBucket[p];
                boolean next = pb == bucket + 1;
                if (p == from ? !(next || (pb == bucket && bucket >= 0)) : !next) {
                    throw new PlanFormatException(pieceField(t, p - from, ".bucket"), pb, p == from
                            ? "must be " + (bucket < 0 ? "0" : bucket + " or " + (bucket + 1)) + " (buckets are filled in order, none empty)"
                            : "must be " + (bucket + 1) + " (pieces of a split tensor lie in consecutive buckets)");
                }
                if (pb >= bucketSizes.length) {
                    throw new PlanFormatException(pieceField(t, p - from, ".bucket"), pb, "no such bucket (bucketCount = " + bucketSizes.length + ")");
                }
                if (next) {
                    closeBucket(bucket, bucketEnd);
                    bucket = pb;
                    bucketEnd = 0;
                    bucketFirstPiece[pb] = p;
                }
                long offset = pieceOffset[p];
                if (offset < bucketEnd) {
                    throw new PlanFormatException(pieceField(t, p - from, ".offset"), offset,
                            "before the end of the previous piece in bucket " + bucket + " (" + bucketEnd + ")");
                }
                if ((offset & (alignment - 1)) != 0) {
                    throw new PlanFormatException(pieceField(t, p - from, ".offset"), offset, "not a multiple of alignment " + alignment);
                }
                long length = pieceLength[p];
                if (length < 1 || length % spec.dtype().byteSize() != 0) {
                    throw new PlanFormatException(pieceField(t, p - from, ".length"), length,
                            "not a positive multiple of the element size " + spec.dtype().byteSize());
                }
                long size = bucketSizes[pb];
                if (offset > size || length > size - offset) {
                    throw new PlanFormatException(pieceField(t, p - from, ".length"), length,
                            "runs past the end of bucket " + pb + " (offset " + offset + ", byteSize " + size + ")");
                }
                if (length > spec.byteSize() - covered) {
                    throw new PlanFormatException(pieceField(t, p - from, ".length"), length,
                            "pieces exceed the tensor's " + spec.byteSize() + " bytes");
                }
                pieceTensor[p] = t;
                pieceTensorOffset[p] = covered;
                covered += length;
                bucketEnd = offset + length;
            }
            if (covered != spec.byteSize()) {
                throw new PlanFormatException("tensors[" + t + "].pieces", covered, "cover fewer bytes than numel "
                        + spec.numel() + " x " + spec.dtype().byteSize() + " = " + spec.byteSize());
            }
            total += covered;
        }
        closeBucket(bucket, bucketEnd);
        if (bucket != bucketSizes.length - 1) {
            throw new PlanFormatException("buckets[" + (bucket + 1) + "]", bucketSizes[bucket + 1], "holds no piece");
        }
        bucketFirstPiece[bucketSizes.length] = pieceBucket.length;
        return total;
    }

    private static String pieceField(int tensor, int piece, String leaf) {
        return "tensors[" + tensor + "].pieces[" + piece + "]" + leaf;
    }

    private void closeBucket(int bucket, long end) {
        if (bucket >= 0 && end != bucketSizes[bucket]) {
            throw new PlanFormatException("buckets[" + bucket + "].byteSize", bucketSizes[bucket],
                    "differs from the end of its last piece (" + end + ")");
        }
    }

    /** Bytes a bucket may hold at most. */
    public long bucketCapBytes() {
        return bucketCapBytes;
    }

    /** Start alignment of every piece, in bytes (a power of two). */
    public long alignment() {
        return alignment;
    }

    /** Number of tensors. */
    public int tensorCount() {
        return tensors.length;
    }

    /** Tensor {@code index}, in inventory order. */
    public TensorSpec tensor(int index) {
        return tensors[index];
    }

    /** All tensors in inventory order (unmodifiable). */
    public List<TensorSpec> tensors() {
        return Collections.unmodifiableList(Arrays.asList(tensors));
    }

    /** The index of the tensor with this name, or -1. */
    public int indexOf(String name) {
        Integer index = indexByName.get(name);
        return index == null ? -1 : index;
    }

    /** Number of buckets. */
    public int bucketCount() {
        return bucketSizes.length;
    }

    /** Bytes of bucket {@code bucket} (padding included). */
    public long bucketByteSize(int bucket) {
        return bucketSizes[bucket];
    }

    /** The largest bucket size; what a reusable bucket buffer must hold. */
    public long maxBucketByteSize() {
        long max = 0;
        for (long size : bucketSizes) {
            max = Math.max(max, size);
        }
        return max;
    }

    /** Bytes of all buckets together (padding included). */
    public long totalBucketBytes() {
        long total = 0;
        for (long size : bucketSizes) {
            total += size;
        }
        return total;
    }

    /** Bytes of all tensors together. */
    public long totalTensorBytes() {
        return totalTensorBytes;
    }

    /** Number of pieces of all tensors together. */
    public int pieceCount() {
        return pieceBucket.length;
    }

    /** True when the tensor is stored in more than one piece (and so in more than one bucket). */
    public boolean isSplit(int tensor) {
        return firstPiece[tensor + 1] - firstPiece[tensor] > 1;
    }

    /** The pieces of a tensor, in tensor order (empty for an empty tensor). */
    public List<Piece> piecesOf(int tensor) {
        return pieceList(firstPiece[tensor], firstPiece[tensor + 1]);
    }

    /** The pieces stored in a bucket, by offset. */
    public List<Piece> piecesIn(int bucket) {
        Objects.checkIndex(bucket, bucketSizes.length);
        return pieceList(bucketFirstPiece[bucket], bucketFirstPiece[bucket + 1]);
    }

    private List<Piece> pieceList(int from, int to) {
        return new AbstractList<>() {
            @Override
            public Piece get(int index) {
                int p = from + Objects.checkIndex(index, to - from);
                return new Piece(pieceTensor[p], pieceBucket[p], pieceOffset[p], pieceTensorOffset[p], pieceLength[p]);
            }

            @Override
            public int size() {
                return to - from;
            }
        };
    }

    /**
     * A view of a single-piece tensor inside its bucket's bytes; no copy, no native call.
     *
     * @param tensor tensor index
     * @param bucket the bytes of bucket {@code piecesOf(tensor).get(0).bucket()} (at least its byte size);
     *               for an empty tensor any segment
     * @throws IllegalArgumentException when the tensor is split, or the segment is smaller than the bucket
     */
    public HostTensorView hostView(int tensor, MemorySegment bucket) {
        int p = firstPiece[tensor];
        if (firstPiece[tensor + 1] == p) {
            return new HostTensorView(tensors[tensor], 0, bucket.asSlice(0, 0));
        }
        requireSinglePiece(tensor);
        requireBucketBytes(pieceBucket[p], bucket.byteSize());
        return new HostTensorView(tensors[tensor], pieceOffset[p], bucket.asSlice(pieceOffset[p], pieceLength[p]));
    }

    /**
     * A view of a single-piece tensor inside its bucket's device memory: an address and a size for native code;
     * no copy, no native call.
     *
     * @param tensor tensor index
     * @param bucket device memory of bucket {@code piecesOf(tensor).get(0).bucket()} (at least its byte size);
     *               for an empty tensor any device memory
     * @throws IllegalArgumentException when the tensor is split, or the memory is smaller than the bucket
     */
    public DeviceTensorView deviceView(int tensor, DeviceMemory bucket) {
        int p = firstPiece[tensor];
        if (firstPiece[tensor + 1] == p) {
            return new DeviceTensorView(tensors[tensor], 0, bucket.slice(0, 0));
        }
        requireSinglePiece(tensor);
        requireBucketBytes(pieceBucket[p], bucket.byteSize());
        return new DeviceTensorView(tensors[tensor], pieceOffset[p], bucket.slice(pieceOffset[p], pieceLength[p]));
    }

    private void requireSinglePiece(int tensor) {
        if (isSplit(tensor)) {
            throw new IllegalArgumentException("tensor " + tensors[tensor].name() + " is split across "
                    + (firstPiece[tensor + 1] - firstPiece[tensor]) + " buckets: scatter it into a destination and view that");
        }
    }

    private void requireBucketBytes(int bucket, long available) {
        if (available < bucketSizes[bucket]) {
            throw new IllegalArgumentException("bucket " + bucket + " has " + bucketSizes[bucket]
                    + " bytes, the given memory only " + available);
        }
    }

    // Package-private raw access for the packers and the codecs (no copies, no boxing).

    int firstPieceOfTensor(int tensor) {
        return firstPiece[tensor];
    }

    int firstPieceOfBucket(int bucket) {
        return bucketFirstPiece[bucket];
    }

    int pieceTensor(int piece) {
        return pieceTensor[piece];
    }

    int pieceBucket(int piece) {
        return pieceBucket[piece];
    }

    long pieceOffset(int piece) {
        return pieceOffset[piece];
    }

    long pieceLength(int piece) {
        return pieceLength[piece];
    }

    long pieceTensorOffset(int piece) {
        return pieceTensorOffset[piece];
    }

    /**
     * SHA-256 of the canonical binary encoding ({@link PlanCodec#encode}), as 64 lower-case hex digits. Equal
     * plans have equal fingerprints; sender and receiver compare them to agree on the layout.
     */
    public String fingerprint() {
        String value = fingerprint;
        if (value == null) {
            value = HexFormat.of().formatHex(Inventory.sha256().digest(PlanCodec.encode(this)));
            fingerprint = value;
        }
        return value;
    }

    /**
     * {@link Inventory#fingerprint(List)} of this plan's tensors: what a receiver pins to require a model whatever
     * the bucket size the sender chose.
     */
    public String inventoryFingerprint() {
        String value = inventoryFingerprint;
        if (value == null) {
            value = Inventory.fingerprint(tensors());
            inventoryFingerprint = value;
        }
        return value;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof BucketPlan that
                && bucketCapBytes == that.bucketCapBytes
                && alignment == that.alignment
                && Arrays.equals(bucketSizes, that.bucketSizes)
                && Arrays.equals(firstPiece, that.firstPiece)
                && Arrays.equals(pieceBucket, that.pieceBucket)
                && Arrays.equals(pieceOffset, that.pieceOffset)
                && Arrays.equals(pieceLength, that.pieceLength)
                && Arrays.equals(tensors, that.tensors);
    }

    @Override
    public int hashCode() {
        return Objects.hash(bucketCapBytes, alignment, tensors.length, Arrays.hashCode(bucketSizes),
                Arrays.hashCode(pieceOffset));
    }

    @Override
    public String toString() {
        return "BucketPlan[" + tensors.length + " tensors, " + totalTensorBytes + " bytes, " + bucketSizes.length
                + " buckets <= " + bucketCapBytes + " B, alignment " + alignment + ", " + pieceBucket.length + " pieces]";
    }
}
