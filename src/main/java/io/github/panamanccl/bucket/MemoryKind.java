package io.github.panamanccl.bucket;

/** Where the bytes of a {@link TensorView} live. */
public enum MemoryKind {
    /** Memory Java can read: a {@link java.lang.foreign.MemorySegment}. */
    HOST,
    /** GPU memory: an address and a size for native code, never read from Java. */
    DEVICE
}
