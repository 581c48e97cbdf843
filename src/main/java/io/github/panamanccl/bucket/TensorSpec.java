package io.github.panamanccl.bucket;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * A named tensor: name, element type and shape (PyTorch order), immutable and validated.
 *
 * <p>Rules: the name is non-empty, well-formed Unicode without control characters (so it survives TSV, JSON and
 * logs unchanged) and at most {@value #MAX_NAME_BYTES} bytes in UTF-8; the rank is at most {@value #MAX_RANK};
 * every dimension is non-negative; the element count and the byte size fit in a {@code long}. A shape of
 * {@code []} is a scalar (one element); any zero dimension makes an empty tensor (zero bytes).
 * Violations throw {@link PlanFormatException} (an {@link IllegalArgumentException}).
 */
public final class TensorSpec {
    /** Longest name, in UTF-8 bytes. */
    public static final int MAX_NAME_BYTES = 1024;
    /** Highest rank. */
    public static final int MAX_RANK = 32;

    private final String name;
    private final byte[] nameUtf8;
    private final DType dtype;
    private final long[] shape;
    private final long numel;
    private final long byteSize;

    /**
     * A validated tensor description.
     *
     * @param name  tensor name, e.g. {@code model.layers.0.mlp.experts.7.up_proj.weight}
     * @param dtype element type
     * @param shape dimensions in PyTorch order; none for a scalar
     * @throws PlanFormatException when a rule above is broken
     */
    public TensorSpec(String name, DType dtype, long... shape) {
        this(Objects.requireNonNull(name, "name"), utf8Of(name), dtype, shape.clone());
    }

    /** Trusted-ownership constructor: {@code nameUtf8} must be the UTF-8 of {@code name}; takes {@code shape}. */
    TensorSpec(String name, byte[] nameUtf8, DType dtype, long[] shape) {
        checkName(name, nameUtf8);
        this.name = name;
        this.nameUtf8 = nameUtf8;
        this.dtype = Objects.requireNonNull(dtype, "dtype");
        if (shape.length > MAX_RANK) {
            throw new PlanFormatException("shape", shape.length, "rank above " + MAX_RANK);
        }
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new PlanFormatException("shape[" + i + "]", shape[i], "negative dimension");
            }
            try {
                count = Math.multiplyExact(count, shape[i]);
            } catch (ArithmeticException overflow) {
                throw new PlanFormatException("shape", Arrays.toString(shape), "element count overflows a long");
            }
        }
        this.shape = shape;
        this.numel = count;
        try {
            this.byteSize = Math.multiplyExact(count, dtype.byteSize());
        } catch (ArithmeticException overflow) {
            throw new PlanFormatException("shape", Arrays.toString(shape), "byte size overflows a long");
        }
    }

    private static byte[] utf8Of(String name) {
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < name.length() && Character.isLowSurrogate(name.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                throw new PlanFormatException("name", PlanFormatException.quote(name),
                        "unpaired surrogate at index " + i + " (not representable in UTF-8)");
            }
        }
        return name.getBytes(StandardCharsets.UTF_8);
    }

    private static void checkName(String name, byte[] nameUtf8) {
        if (nameUtf8.length == 0) {
            throw new PlanFormatException("name", "\"\"", "must not be empty");
        }
        if (nameUtf8.length > MAX_NAME_BYTES) {
            throw new PlanFormatException("name", PlanFormatException.quote(name),
                    nameUtf8.length + " UTF-8 bytes, above " + MAX_NAME_BYTES);
        }
        for (int i = 0; i < name.length(); i++) {
            if (Character.isISOControl(name.charAt(i))) {
                throw new PlanFormatException("name", PlanFormatException.quote(name),
                        "control character U+" + String.format("%04X", (int) name.charAt(i)) + " at index " + i);
            }
        }
    }

    /** The tensor name. */
    public String name() {
        return name;
    }

    /** The name's UTF-8 bytes; not copied, never modify. */
    byte[] nameUtf8() {
        return nameUtf8;
    }

    /** The element type. */
    public DType dtype() {
        return dtype;
    }

    /** A copy of the shape. */
    public long[] shape() {
        return shape.clone();
    }

    /** Number of dimensions (0 for a scalar). */
    public int rank() {
        return shape.length;
    }

    /** Dimension {@code axis}. */
    public long dim(int axis) {
        return shape[axis];
    }

    /** Number of elements (1 for a scalar, 0 for an empty tensor). */
    public long numel() {
        return numel;
    }

    /** Bytes of the tensor: {@code numel() * dtype().byteSize()}. */
    public long byteSize() {
        return byteSize;
    }

    /** The same name and type with another shape. */
    public TensorSpec withShape(long... newShape) {
        return new TensorSpec(name, nameUtf8, dtype, newShape.clone());
    }

    /** The shape as PyTorch prints it, e.g. {@code [151936, 2048]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorSpec that
                && dtype == that.dtype
                && name.equals(that.name)
                && Arrays.equals(shape, that.shape);
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype.torchName() + " " + shapeString();
    }
}
