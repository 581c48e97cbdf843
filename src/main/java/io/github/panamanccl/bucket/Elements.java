package io.github.panamanccl.bucket;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Reads tensor elements (little-endian, any alignment), widened to float/double/long, and writes them back. */
final class Elements {
    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static final float[] E4M3FN = new float[256];
    private static final float[] E5M2 = new float[256];

    static {
        for (int bits = 0; bits < 256; bits++) {
            E4M3FN[bits] = e4m3fnToFloat(bits);
            // e5m2 is the upper byte of an IEEE binary16.
            E5M2[bits] = Float.float16ToFloat((short) (bits << 8));
        }
    }

    private Elements() {
    }

    /** float8_e4m3fn: bias 7, 3 mantissa bits, no infinities, NaN only at S.1111.111. */
    private static float e4m3fnToFloat(int bits) {
        float sign = (bits & 0x80) != 0 ? -1f : 1f;
        int exponent = (bits >> 3) & 0xf;
        int mantissa = bits & 0x7;
        if (exponent == 0xf && mantissa == 0x7) {
            return Float.NaN;
        }
        if (exponent == 0) {
            return sign * Math.scalb((float) mantissa, -9);
        }
        return sign * Math.scalb(1f + mantissa / 8f, exponent - 7);
    }

    /** Element {@code index} as float (rounded for float64, int32 and int64; bool is 0 or 1). */
    static float toFloat(DType dtype, MemorySegment bytes, long index) {
        return switch (dtype) {
            case BOOL -> bytes.get(ValueLayout.JAVA_BYTE, index) != 0 ? 1f : 0f;
            case UINT8 -> bytes.get(ValueLayout.JAVA_BYTE, index) & 0xff;
            case INT8 -> bytes.get(ValueLayout.JAVA_BYTE, index);
            case INT16 -> bytes.get(SHORT, index * 2);
            case INT32 -> bytes.get(INT, index * 4);
            case INT64 -> bytes.get(LONG, index * 8);
            case FLOAT16 -> Float.float16ToFloat(bytes.get(SHORT, index * 2));
            case BFLOAT16 -> Float.intBitsToFloat(bytes.get(SHORT, index * 2) << 16);
            case FLOAT32 -> bytes.get(FLOAT, index * 4);
            case FLOAT64 -> (float) bytes.get(DOUBLE, index * 8);
            case FLOAT8_E4M3FN -> E4M3FN[bytes.get(ValueLayout.JAVA_BYTE, index) & 0xff];
            case FLOAT8_E5M2 -> E5M2[bytes.get(ValueLayout.JAVA_BYTE, index) & 0xff];
        };
    }

    /** Element {@code index} as double (exact for every type but int64 beyond 2^53). */
    static double toDouble(DType dtype, MemorySegment bytes, long index) {
        return switch (dtype) {
            case INT32 -> bytes.get(INT, index * 4);
            case INT64 -> bytes.get(LONG, index * 8);
            case FLOAT64 -> bytes.get(DOUBLE, index * 8);
            default -> toFloat(dtype, bytes, index);
        };
    }

    /** Element {@code index} of an integer or bool tensor. */
    static long toLong(DType dtype, MemorySegment bytes, long index) {
        return switch (dtype) {
            case BOOL -> bytes.get(ValueLayout.JAVA_BYTE, index) != 0 ? 1 : 0;
            case UINT8 -> bytes.get(ValueLayout.JAVA_BYTE, index) & 0xff;
            case INT8 -> bytes.get(ValueLayout.JAVA_BYTE, index);
            case INT16 -> bytes.get(SHORT, index * 2);
            case INT32 -> bytes.get(INT, index * 4);
            case INT64 -> bytes.get(LONG, index * 8);
            default -> throw new UnsupportedOperationException(dtype.torchName() + " is not an integer type; read it as float");
        };
    }

    /** Elements [from, from + count) widened to float into {@code dst[dstOffset..]}; one bulk copy for float32. */
    static void copyToFloats(DType dtype, MemorySegment bytes, long from, float[] dst, int dstOffset, int count) {
        switch (dtype) {
            case FLOAT32 -> MemorySegment.copy(bytes, FLOAT, from * 4, dst, dstOffset, count);
            case BFLOAT16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = Float.intBitsToFloat(bytes.get(SHORT, (from + i) * 2) << 16);
                }
            }
            case FLOAT16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = Float.float16ToFloat(bytes.get(SHORT, (from + i) * 2));
                }
            }
            case FLOAT8_E4M3FN, FLOAT8_E5M2 -> {
                float[] table = dtype == DType.FLOAT8_E4M3FN ? E4M3FN : E5M2;
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = table[bytes.get(ValueLayout.JAVA_BYTE, from + i) & 0xff];
                }
            }
            default -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = toFloat(dtype, bytes, from + i);
                }
            }
        }
    }

    /** Writes {@code value} as element {@code index} of a floating-point tensor, rounded once ({@link NarrowFloat}). */
    static void fromDouble(DType dtype, MemorySegment bytes, long index, double value) {
        switch (dtype) {
            case FLOAT64 -> bytes.set(DOUBLE, index * 8, value);
            case FLOAT32 -> bytes.set(FLOAT, index * 4, (float) value);
            case FLOAT16 -> bytes.set(SHORT, index * 2, (short) NarrowFloat.FLOAT16.encode(value));
            case BFLOAT16 -> bytes.set(SHORT, index * 2, (short) NarrowFloat.BFLOAT16.encode(value));
            case FLOAT8_E4M3FN -> bytes.set(ValueLayout.JAVA_BYTE, index, (byte) NarrowFloat.FLOAT8_E4M3FN.encode(value));
            case FLOAT8_E5M2 -> bytes.set(ValueLayout.JAVA_BYTE, index, (byte) NarrowFloat.FLOAT8_E5M2.encode(value));
            default -> throw new UnsupportedOperationException(dtype.torchName() + " is an integer type; write it with setLong");
        }
    }

    /** Writes {@code value} as element {@code index} of an integer or bool tensor. */
    static void fromLong(DType dtype, MemorySegment bytes, long index, long value) {
        switch (dtype) {
            case BOOL -> bytes.set(ValueLayout.JAVA_BYTE, index, (byte) inRange(dtype, value, 0, 1));
            case UINT8 -> bytes.set(ValueLayout.JAVA_BYTE, index, (byte) inRange(dtype, value, 0, 255));
            case INT8 -> bytes.set(ValueLayout.JAVA_BYTE, index, (byte) inRange(dtype, value, Byte.MIN_VALUE, Byte.MAX_VALUE));
            case INT16 -> bytes.set(SHORT, index * 2, (short) inRange(dtype, value, Short.MIN_VALUE, Short.MAX_VALUE));
            case INT32 -> bytes.set(INT, index * 4, (int) inRange(dtype, value, Integer.MIN_VALUE, Integer.MAX_VALUE));
            case INT64 -> bytes.set(LONG, index * 8, value);
            default -> throw new UnsupportedOperationException(dtype.torchName()
                    + " is not an integer type; write it with setFloat or setDouble");
        }
    }

    private static long inRange(DType dtype, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException(value + " does not fit " + dtype.torchName() + " [" + min + ", " + max + "]");
        }
        return value;
    }

    /** {@code src[srcOffset..srcOffset + count)} written as elements from {@code from}; one bulk copy for float32. */
    static void copyFromFloats(DType dtype, MemorySegment bytes, long from, float[] src, int srcOffset, int count) {
        if (dtype == DType.FLOAT32) {
            MemorySegment.copy(src, srcOffset, bytes, FLOAT, from * 4, count);
            return;
        }
        for (int i = 0; i < count; i++) {
            fromDouble(dtype, bytes, from + i, src[srcOffset + i]);
        }
    }
}
