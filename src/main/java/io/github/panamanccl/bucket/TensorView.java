package io.github.panamanccl.bucket;

/**
 * A tensor's bytes in some memory, described by its spec. Making a view never copies and never calls native code.
 * Host views ({@link HostTensorView}) can be read from Java; device views only carry an address and a size.
 */
public sealed interface TensorView permits HostTensorView, DeviceTensorView {
    /** The tensor described. */
    TensorSpec spec();

    /** Where the bytes start in the memory the view was sliced from (the bucket), 0 for a standalone view. */
    long offset();

    /** Bytes of the tensor. */
    default long byteSize() {
        return spec().byteSize();
    }

    /** Host or device. */
    MemoryKind memoryKind();

    /** The tensor's name. */
    default String name() {
        return spec().name();
    }

    /** The element type. */
    default DType dtype() {
        return spec().dtype();
    }

    /** A copy of the shape. */
    default long[] shape() {
        return spec().shape();
    }
}
