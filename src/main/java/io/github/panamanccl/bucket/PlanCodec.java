package io.github.panamanccl.bucket;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * Compact, versioned binary encoding of a {@link BucketPlan}; decoding treats the bytes as untrusted.
 *
 * <p>Format version 1, little-endian; {@code varint} = unsigned LEB128, shortest form, at most 63 bits:
 * <pre>
 * header, 32 bytes:
 *   0  4  magic "PNBP"
 *   4  u16 version (1)            6  u16 flags (0)
 *   8  u64 bucketCapBytes        16  u32 alignment
 *  20  u32 tensorCount           24  u32 bucketCount        28  u32 pieceCount
 * bucketCount x varint bucket byte size
 * tensorCount x tensor:
 *   varint sharedPrefix  bytes of the name shared with the previous tensor's name (front coding)
 *   varint suffixLength, suffix bytes (UTF-8)
 *   u8 dtype code ({@link DType#code()}), u8 rank, rank x varint dimension
 *   varint pieces, then per piece: varint bucketDelta (bucket minus the previous piece's bucket, which starts
 *   at 0), varint offset in the bucket, varint length
 * nothing after the last tensor
 * </pre>
 *
 * <p>The decoder reads no byte outside the given range, allocates nothing before the counts of the header have
 * been checked against the bytes present (each count times its smallest record size), and checks every field
 * — header, string lengths, UTF-8, dtype codes, ranks, dimensions, element count and byte size, piece bounds,
 * alignment, order, overlap, bucket sizes against the cap, duplicate names, trailing bytes — before building
 * the plan with the same checks as every other plan. Any bad input ends in {@link PlanFormatException}.
 */
public final class PlanCodec {
    /** Current format version. */
    public static final int VERSION = 1;
    /** Size of the fixed header. */
    public static final int HEADER_BYTES = 32;

    private static final byte[] MAGIC = {'P', 'N', 'B', 'P'};
    private static final int MIN_BUCKET_BYTES = 1;
    private static final int MIN_TENSOR_BYTES = 5;
    private static final int MIN_PIECE_BYTES = 3;

    private PlanCodec() {
    }

    /** The canonical encoding of a plan; equal plans give equal bytes. */
    public static byte[] encode(BucketPlan plan) {
        Writer out = new Writer(HEADER_BYTES + plan.bucketCount() * 5 + plan.tensorCount() * 40 + plan.pieceCount() * 8);
        out.bytes(MAGIC, 0, MAGIC.length);
        out.u16(VERSION);
        out.u16(0);
        out.u64(plan.bucketCapBytes());
        out.u32(plan.alignment());
        out.u32(plan.tensorCount());
        out.u32(plan.bucketCount());
        out.u32(plan.pieceCount());
        for (int b = 0; b < plan.bucketCount(); b++) {
            out.varint(plan.bucketByteSize(b));
        }
        byte[] previous = new byte[0];
        int previousBucket = 0;
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            byte[] name = spec.nameUtf8();
            int shared = Arrays.mismatch(previous, name);
            shared = shared < 0 ? name.length : shared;
            out.varint(shared);
            out.varint(name.length - shared);
            out.bytes(name, shared, name.length - shared);
            out.u8(spec.dtype().code());
            out.u8(spec.rank());
            for (int axis = 0; axis < spec.rank(); axis++) {
                out.varint(spec.dim(axis));
            }
            int from = plan.firstPieceOfTensor(t);
            int to = plan.firstPieceOfTensor(t + 1);
            out.varint(to - from);
            for (int p = from; p < to; p++) {
                out.varint(plan.pieceBucket(p) - previousBucket);
                out.varint(plan.pieceOffset(p));
                out.varint(plan.pieceLength(p));
                previousBucket = plan.pieceBucket(p);
            }
            previous = name;
        }
        return out.toByteArray();
    }

    /** Decodes a whole array; see {@link #decode(byte[], int, int)}. */
    public static BucketPlan decode(byte[] bytes) {
        return decode(bytes, 0, bytes.length);
    }

    /**
     * Decodes {@code length} bytes from {@code offset}: exactly one plan, no trailing bytes.
     *
     * @throws PlanFormatException naming the first bad field, for any malformed or inconsistent input
     */
    public static BucketPlan decode(byte[] bytes, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, bytes.length);
        return new Reader(bytes, offset, offset + length).plan();
    }

    /** Bounds-checked cursor over the untrusted bytes. */
    private static final class Reader {
        private final byte[] in;
        private final int start;
        private final int end;
        private int pos;
        private final CharsetDecoder strictUtf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);

        /** Context of the field being read, to name it in a rejection; {@code %} in a leaf stands for {@code sub}. */
        private int tensor = -1;
        private int piece = -1;
        private int sub = -1;

        Reader(byte[] in, int start, int end) {
            this.in = in;
            this.start = start;
            this.end = end;
            this.pos = start;
        }

        BucketPlan plan() {
            require(HEADER_BYTES, "header");
            for (int i = 0; i < MAGIC.length; i++) {
                if (in[pos + i] != MAGIC[i]) {
                    throw new PlanFormatException("magic", hex(pos, MAGIC.length), "not a panama-nccl bucket plan (expected \"PNBP\")");
                }
            }
            pos += MAGIC.length;
            int version = u16();
            if (version != VERSION) {
                throw new PlanFormatException("version", version, "unsupported (this build reads version " + VERSION + ")");
            }
            int flags = u16();
            if (flags != 0) {
                throw new PlanFormatException("flags", flags, "reserved, must be 0");
            }
            long cap = u64();
            long alignment = u32();
            long tensorCount = u32();
            long bucketCount = u32();
            long pieceCount = u32();
            BucketPlan.checkHeader(cap, alignment, tensorCount, bucketCount, pieceCount);
            long needed = bucketCount * MIN_BUCKET_BYTES + tensorCount * MIN_TENSOR_BYTES + pieceCount * MIN_PIECE_BYTES;
            if (needed > end - pos) {
                throw new PlanFormatException("tensorCount", tensorCount, "with bucketCount " + bucketCount + " and pieceCount "
                        + pieceCount + " needs at least " + needed + " bytes, " + (end - pos) + " follow the header");
            }
            long[] bucketSizes = new long[(int) bucketCount];
            for (int b = 0; b < bucketSizes.length; b++) {
                sub = b;
                bucketSizes[b] = varint("buckets[%].byteSize");
            }
            TensorSpec[] tensors = new TensorSpec[(int) tensorCount];
            int[] firstPiece = new int[tensors.length + 1];
            int[] pieceBucket = new int[(int) pieceCount];
            long[] pieceOffset = new long[pieceBucket.length];
            long[] pieceLength = new long[pieceBucket.length];
            byte[] previousName = new byte[0];
            long nameBytes = 0;
            int pieces = 0;
            int bucket = 0;
            for (int t = 0; t < tensors.length; t++) {
                tensor = t;
                piece = -1;
                long shared = varint(".sharedPrefix");
                if (shared > previousName.length) {
                    throw new PlanFormatException(at(".sharedPrefix"), shared,
                            "longer than the previous name (" + previousName.length + " bytes)");
                }
                long suffix = varint(".suffixLength");
                if (suffix > TensorSpec.MAX_NAME_BYTES - shared) {
                    throw new PlanFormatException(at(".suffixLength"), suffix,
                            "name longer than " + TensorSpec.MAX_NAME_BYTES + " bytes (shared prefix " + shared + ")");
                }
                require(suffix, ".name");
                nameBytes += shared + suffix;
                if (nameBytes > BucketPlan.MAX_TOTAL_NAME_BYTES) {
                    throw new PlanFormatException(at(".suffixLength"), suffix,
                            "names exceed " + BucketPlan.MAX_TOTAL_NAME_BYTES + " bytes in all");
                }
                byte[] nameUtf8 = Arrays.copyOf(previousName, (int) (shared + suffix));
                System.arraycopy(in, pos, nameUtf8, (int) shared, (int) suffix);
                pos += (int) suffix;
                String name = string(nameUtf8, ".name");
                int code = u8(".dtype");
                DType dtype = DType.fromCodeOrNull(code);
                if (dtype == null) {
                    throw new PlanFormatException(at(".dtype"), code, "unknown dtype code");
                }
                int rank = u8(".rank");
                if (rank > TensorSpec.MAX_RANK) {
                    throw new PlanFormatException(at(".rank"), rank, "above " + TensorSpec.MAX_RANK);
                }
                long[] shape = new long[rank];
                for (int axis = 0; axis < rank; axis++) {
                    sub = axis;
                    shape[axis] = varint(".shape[%]");
                }
                try {
                    tensors[t] = new TensorSpec(name, nameUtf8, dtype, shape);
                } catch (PlanFormatException bad) {
                    throw bad.within(at(""));
                }
                long count = varint(".pieceCount");
                if (count > pieceCount - pieces) {
                    throw new PlanFormatException(at(".pieceCount"), count,
                            "more pieces than the header's pieceCount " + pieceCount + " leaves (" + (pieceCount - pieces) + ")");
                }
                firstPiece[t] = pieces;
                for (int k = 0; k < count; k++, pieces++) {
                    piece = k;
                    long delta = varint(".bucketDelta");
                    if (delta >= bucketCount - bucket) {
                        throw new PlanFormatException(at(".bucketDelta"), delta,
                                "points past the last bucket (bucket " + bucket + " of " + bucketCount + ")");
                    }
                    bucket += (int) delta;
                    pieceBucket[pieces] = bucket;
                    pieceOffset[pieces] = varint(".offset");
                    pieceLength[pieces] = varint(".length");
                }
                previousName = nameUtf8;
            }
            firstPiece[tensors.length] = pieces;
            tensor = -1;
            piece = -1;
            if (pieces != pieceCount) {
                throw new PlanFormatException("pieceCount", pieceCount, "the tensors list " + pieces + " pieces");
            }
            if (pos != end) {
                throw new PlanFormatException("trailingBytes", end - pos, "bytes after the last tensor (at byte " + (pos - start) + ")");
            }
            return BucketPlan.of(cap, alignment, tensors, bucketSizes, firstPiece, pieceBucket, pieceOffset, pieceLength);
        }

        private void require(long bytes, String leaf) {
            if (bytes > end - pos) {
                throw new PlanFormatException(at(leaf), "truncated",
                        "needs " + bytes + " bytes at byte " + (pos - start) + ", " + (end - pos) + " left");
            }
        }

        private int u8(String leaf) {
            require(1, leaf);
            return in[pos++] & 0xff;
        }

        private int u16() {
            int value = (in[pos] & 0xff) | (in[pos + 1] & 0xff) << 8;
            pos += 2;
            return value;
        }

        private long u32() {
            long value = (in[pos] & 0xffL) | (in[pos + 1] & 0xffL) << 8 | (in[pos + 2] & 0xffL) << 16 | (in[pos + 3] & 0xffL) << 24;
            pos += 4;
            return value;
        }

        private long u64() {
            long value = u32() | u32() << 32;
            if (value < 0) {
                throw new PlanFormatException("bucketCapBytes", Long.toUnsignedString(value), "above 2^63 - 1");
            }
            return value;
        }

        /** An unsigned LEB128 value of at most 63 bits in shortest form. */
        private long varint(String leaf) {
            int at = pos;
            long value = 0;
            for (int shift = 0; ; shift += 7) {
                if (pos == end) {
                    throw new PlanFormatException(at(leaf), "truncated", "varint runs past the end at byte " + (at - start));
                }
                int b = in[pos++] & 0xff;
                if (shift == 63 && b > 0) {
                    throw new PlanFormatException(at(leaf), hex(at, pos - at), "varint above 2^63 - 1 at byte " + (at - start));
                }
                value |= (long) (b & 0x7f) << shift;
                if ((b & 0x80) == 0) {
                    if (b == 0 && shift > 0) {
                        throw new PlanFormatException(at(leaf), hex(at, pos - at), "varint not in shortest form at byte " + (at - start));
                    }
                    return value;
                }
            }
        }

        private String string(byte[] utf8, String leaf) {
            boolean ascii = true;
            for (byte b : utf8) {
                ascii &= b >= 0;
            }
            if (ascii) {
                return new String(utf8, StandardCharsets.ISO_8859_1);
            }
            try {
                return strictUtf8.reset().decode(ByteBuffer.wrap(utf8)).toString();
            } catch (CharacterCodingException bad) {
                throw new PlanFormatException(at(leaf), hexOf(utf8, 0, utf8.length), "not valid UTF-8");
            }
        }

        /** The path of field {@code leaf} in the current context; built only for a rejection. */
        private String at(String leaf) {
            String path = leaf.replace("%", Integer.toString(sub));
            if (tensor < 0) {
                return path;
            }
            return "tensors[" + tensor + "]" + (piece < 0 ? "" : ".pieces[" + piece + "]") + path;
        }

        private String hex(int from, int count) {
            return hexOf(in, from, count);
        }
    }

    /** Up to 16 bytes as hex, for messages. */
    private static String hexOf(byte[] bytes, int from, int count) {
        StringBuilder text = new StringBuilder("0x");
        for (int i = from; i < from + Math.min(count, 16); i++) {
            text.append(Character.forDigit((bytes[i] >> 4) & 0xf, 16)).append(Character.forDigit(bytes[i] & 0xf, 16));
        }
        return count > 16 ? text.append("...").toString() : text.toString();
    }

    /** Growable little-endian output. */
    private static final class Writer {
        private byte[] out;
        private int size;

        Writer(long capacityGuess) {
            out = new byte[(int) Math.min(Integer.MAX_VALUE - 16, Math.max(64, capacityGuess))];
        }

        private void ensure(int more) {
            if (out.length - size < more) {
                long grown = Math.max((long) out.length * 2, (long) size + more);
                if (grown > Integer.MAX_VALUE - 16) {
                    throw new IllegalStateException("encoded plan above 2 GiB");
                }
                out = Arrays.copyOf(out, (int) grown);
            }
        }

        void bytes(byte[] src, int from, int count) {
            ensure(count);
            System.arraycopy(src, from, out, size, count);
            size += count;
        }

        void u8(int value) {
            ensure(1);
            out[size++] = (byte) value;
        }

        void u16(int value) {
            u8(value);
            u8(value >>> 8);
        }

        void u32(long value) {
            u16((int) value);
            u16((int) (value >>> 16));
        }

        void u64(long value) {
            u32(value);
            u32(value >>> 32);
        }

        void varint(long value) {
            ensure(10);
            while ((value & ~0x7fL) != 0) {
                out[size++] = (byte) ((value & 0x7f) | 0x80);
                value >>>= 7;
            }
            out[size++] = (byte) value;
        }

        byte[] toByteArray() {
            return Arrays.copyOf(out, size);
        }
    }
}
