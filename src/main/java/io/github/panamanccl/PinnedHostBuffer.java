package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory from cudaMallocHost: readable and writable from Java through {@link #segment()},
 * and the fast source or target of asynchronous device copies. {@link #close()} (idempotent) frees it,
 * after which the segment is no longer accessible.
 */
public final class PinnedHostBuffer implements AutoCloseable {
    private final NativeHandle handle;
    private final long byteSize;

    private PinnedHostBuffer(NativeHandle handle, long byteSize) {
        this.handle = handle;
        this.byteSize = byteSize;
    }

    /** cudaMallocHost of {@code bytes}. */
    public static PinnedHostBuffer allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be positive: " + bytes);
        }
        Cuda.ensureRuntime();
        long address = OutSlot.cudaPointer("cudaMallocHost", out -> CudaRuntimeApi.cudaMallocHost(out, bytes));
        String description = "PinnedHostBuffer[0x" + Long.toHexString(address) + ", " + bytes + " bytes]";
        return new PinnedHostBuffer(new NativeHandle(description, address, bytes, PinnedHostBuffer::free), bytes);
    }

    private static void free(MemorySegment pointer) {
        NativeResults.checkCuda("cudaFreeHost", CudaRuntimeApi.cudaFreeHost(pointer));
    }

    /** The memory as a segment of {@link #byteSize()} bytes, valid until this buffer is closed. */
    public MemorySegment segment() {
        return handle.segment();
    }

    /** The host address of the first byte. */
    public long address() {
        return handle.address();
    }

    /** The size in bytes. */
    public long byteSize() {
        return byteSize;
    }

    /** Frees the memory (cudaFreeHost); later calls do nothing. */
    @Override
    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return handle + (handle.isClosed() ? " (closed)" : "");
    }
}
