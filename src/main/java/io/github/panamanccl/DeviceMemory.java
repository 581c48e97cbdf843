package io.github.panamanccl;

/**
 * A range of device memory, known to Java only by address and size: it is never dereferenced from Java.
 * Implemented by {@link DeviceBuffer} and its slices.
 */
public interface DeviceMemory {
    /** The device address of the first byte; throws IllegalStateException once the memory is freed. */
    long address();

    /** The size in bytes. */
    long byteSize();

    /**
     * A view of {@code length} bytes starting {@code offset} bytes in; it lives as long as this memory.
     *
     * @throws IndexOutOfBoundsException when the range does not fit in this memory
     */
    DeviceMemory slice(long offset, long length);
}
