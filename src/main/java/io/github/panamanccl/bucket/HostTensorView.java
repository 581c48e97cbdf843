package io.github.panamanccl.bucket;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A tensor in host memory: its spec plus a segment of exactly its bytes (little-endian elements, any alignment).
 * Element reads widen to float, double or long; bf16, fp16 and the fp8 formats (e4m3fn, e5m2) are decoded.
 * Made by {@link BucketPlan#hostView} (inside a bucket) or {@link #of} (any segment, e.g. a scatter destination).
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
