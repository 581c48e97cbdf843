package io.github.panamanccl.bucket;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A tensor in host memory: its spec plus a segment of exactly its bytes (little-endian elements, any alignment).
 * Element reads widen to float, double or long; bf16, fp16 and the fp8 formats (e4m3fn, e5m2) are decoded.
 * Element writes narrow from float or double with one rounding, to nearest, ties to even: every value the type
 * represents is written exactly (so a read followed by a write restores the bytes, NaN payloads aside); a value
 * beyond its range becomes infinity, or NaN for float8_e4m3fn, which has no infinity (as PyTorch does, no
 * saturation); NaN stays NaN. Integer writes are range-checked. Made by {@link BucketPlan#hostView} (inside a
 * bucket) or {@link #of} (any segment, e.g. a tensor to publish or a scatter destination).
 */
public final class HostTensorView implements TensorView {
    private final TensorSpec spec;
    private final long offset;
    private final MemorySegment segment;

    HostTensorView(TensorSpec spec, long offset, MemorySegment segment) {
        this.spec = spec;
        this.offset = offset;
        this.segment = segment;
    }

    /**
     * A view of {@code bytes} as {@code spec}.
     *
     * @throws IllegalArgumentException when the segment's size differs from the tensor's
     */
    public static HostTensorView of(TensorSpec spec, MemorySegment bytes) {
        Objects.requireNonNull(spec, "spec");
        if (bytes.byteSize() != spec.byteSize()) {
            throw new IllegalArgumentException(spec.name() + " has " + spec.byteSize() + " bytes, the segment " + bytes.byteSize());
        }
        return new HostTensorView(spec, 0, bytes);
    }

    @Override
    public TensorSpec spec() {
        return spec;
    }

    @Override
    public long offset() {
        return offset;
    }

    @Override
    public MemoryKind memoryKind() {
        return MemoryKind.HOST;
    }

    /** Exactly the tensor's bytes. */
    public MemorySegment segment() {
        return segment;
    }

    /** Element {@code index} (row-major) as float; float64, int32 and int64 are rounded, bool is 0 or 1. */
    public float getFloat(long index) {
        return Elements.toFloat(spec.dtype(), segment, Objects.checkIndex(index, spec.numel()));
    }

    /** Element {@code index} as double; exact for every type except int64 beyond 2^53. */
    public double getDouble(long index) {
        return Elements.toDouble(spec.dtype(), segment, Objects.checkIndex(index, spec.numel()));
    }

    /**
     * Element {@code index} of an integer or bool tensor.
     *
     * @throws UnsupportedOperationException for a floating-point type
     */
    public long getLong(long index) {
        return Elements.toLong(spec.dtype(), segment, Objects.checkIndex(index, spec.numel()));
    }

    /** Elements {@code [fromIndex, fromIndex + count)} as floats into {@code dst} from {@code dstOffset}. */
    public void copyTo(long fromIndex, float[] dst, int dstOffset, int count) {
        Objects.checkFromIndexSize(fromIndex, count, spec.numel());
        Objects.checkFromIndexSize(dstOffset, count, dst.length);
        Elements.copyToFloats(spec.dtype(), segment, fromIndex, dst, dstOffset, count);
    }

    /**
     * Writes element {@code index} (row-major) of a floating-point tensor, rounded to its type as the class
     * describes (exact for float32 and float64).
     *
     * @throws UnsupportedOperationException for an integer or bool type (use {@link #setLong})
     */
    public void setFloat(long index, float value) {
        Elements.fromDouble(spec.dtype(), segment, Objects.checkIndex(index, spec.numel()), value);
    }

    /**
     * Writes element {@code index} of a floating-point tensor, rounded once from the double (exact for float64).
     *
     * @throws UnsupportedOperationException for an integer or bool type (use {@link #setLong})
     */
    public void setDouble(long index, double value) {
        Elements.fromDouble(spec.dtype(), segment, Objects.checkIndex(index, spec.numel()), value);
    }

    /**
     * Writes element {@code index} of an integer or bool tensor (bool takes 0 or 1).
     *
     * @throws IllegalArgumentException      when the value does not fit the type
     * @throws UnsupportedOperationException for a floating-point type (use {@link #setFloat} or {@link #setDouble})
     */
    public void setLong(long index, long value) {
        Elements.fromLong(spec.dtype(), segment, Objects.checkIndex(index, spec.numel()), value);
    }

    /**
     * Writes {@code src[srcOffset, srcOffset + count)} as elements {@code [toIndex, toIndex + count)} of a
     * floating-point tensor, each rounded as {@link #setFloat} does.
     *
     * @throws UnsupportedOperationException for an integer or bool type
     */
    public void copyFrom(long toIndex, float[] src, int srcOffset, int count) {
        Objects.checkFromIndexSize(toIndex, count, spec.numel());
        Objects.checkFromIndexSize(srcOffset, count, src.length);
        if (!spec.dtype().isFloatingPoint()) {
            throw new UnsupportedOperationException(spec.dtype().torchName() + " is an integer type; write it with setLong");
        }
        Elements.copyFromFloats(spec.dtype(), segment, toIndex, src, srcOffset, count);
    }

    /**
     * All elements as floats.
     *
     * @throws IllegalStateException when the tensor has more elements than a Java array holds
     */
    public float[] toFloatArray() {
        if (spec.numel() > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException(spec.name() + " has " + spec.numel() + " elements; use copyTo in chunks");
        }
        float[] values = new float[(int) spec.numel()];
        copyTo(0, values, 0, values.length);
        return values;
    }

    @Override
    public String toString() {
        return "HostTensorView[" + spec + " @" + offset + "]";
    }
}
