package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * Device memory from cudaMalloc, freed by {@link #close()} (idempotent). Java never dereferences it:
 * data moves only through the copy methods, which check bounds before any native call.
 * Any use after close throws IllegalStateException.
 */
public final class DeviceBuffer implements DeviceMemory, AutoCloseable {
    private final NativeHandle handle;
    private final long byteSize;

    private DeviceBuffer(NativeHandle handle, long byteSize) {
        this.handle = handle;
        this.byteSize = byteSize;
    }

    /** cudaMalloc of {@code bytes} on the current device. */
    public static DeviceBuffer allocate(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("bytes must be positive: " + bytes);
        }
        Cuda.ensureRuntime();
        long address = OutSlot.cudaPointer("cudaMalloc", out -> CudaRuntimeApi.cudaMalloc(out, bytes));
        String description = "DeviceBuffer[0x" + Long.toHexString(address) + ", " + bytes + " bytes]";
        return new DeviceBuffer(new NativeHandle(description, address, 0, DeviceBuffer::free), bytes);
    }

    private static void free(MemorySegment pointer) {
        NativeResults.checkCuda("cudaFree", CudaRuntimeApi.cudaFree(pointer));
    }

    @Override
    public long address() {
        return handle.address();
    }

    @Override
    public long byteSize() {
        return byteSize;
    }

    @Override
    public DeviceMemory slice(long offset, long length) {
        handle.requireOpen();
        return new DeviceMemorySlice(this, offset, length);
    }

    /** Copies all of {@code src} (host memory, heap or native) to this buffer at {@code dstOffset}; synchronous. */
    public void copyFromHost(MemorySegment src, long dstOffset) {
        Objects.requireNonNull(src, "src");
        Ranges.check("copyFromHost destination", dstOffset, src.byteSize(), byteSize);
        MemorySegment device = deviceAt(dstOffset);
        if (src.byteSize() == 0) {
            return;
        }
        if (src.isNative()) {
            memcpy(device, src, src.byteSize(), CudaRuntimeApi.cudaMemcpyHostToDevice());
            return;
        }
        // Heap memory cannot be handed to native code: stage it in native memory.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staged = arena.allocate(src.byteSize()).copyFrom(src);
            memcpy(device, staged, src.byteSize(), CudaRuntimeApi.cudaMemcpyHostToDevice());
        }
    }

    /** Fills all of {@code dst} (host memory, heap or native) from this buffer at {@code srcOffset}; synchronous. */
    public void copyToHost(long srcOffset, MemorySegment dst) {
        Objects.requireNonNull(dst, "dst");
        requireWritable(dst);
        Ranges.check("copyToHost source", srcOffset, dst.byteSize(), byteSize);
        MemorySegment device = deviceAt(srcOffset);
        if (dst.byteSize() == 0) {
            return;
        }
        if (dst.isNative()) {
            memcpy(dst, device, dst.byteSize(), CudaRuntimeApi.cudaMemcpyDeviceToHost());
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment staged = arena.allocate(dst.byteSize());
            memcpy(staged, device, dst.byteSize(), CudaRuntimeApi.cudaMemcpyDeviceToHost());
            dst.copyFrom(staged);
        }
    }

    /**
     * cudaMemcpyAsync of all of {@code src} to this buffer at {@code dstOffset}, ordered on {@code stream}.
     * {@code src} must be native memory (ideally a {@link PinnedHostBuffer}) that stays valid until the
     * stream has passed the copy.
     */
    public void copyFromHostAsync(MemorySegment src, long dstOffset, CudaStream stream) {
        Objects.requireNonNull(src, "src");
        Objects.requireNonNull(stream, "stream");
        requireNative(src, "src");
        Ranges.check("copyFromHostAsync destination", dstOffset, src.byteSize(), byteSize);
        NativeResults.checkCuda("cudaMemcpyAsync", CudaRuntimeApi.cudaMemcpyAsync(deviceAt(dstOffset), src,
                src.byteSize(), CudaRuntimeApi.cudaMemcpyHostToDevice(), stream.handle()));
    }

    /**
     * cudaMemcpyAsync from this buffer at {@code srcOffset} into all of {@code dst}, ordered on {@code stream}.
     * {@code dst} must be native memory that stays valid until the stream has passed the copy.
     */
    public void copyToHostAsync(long srcOffset, MemorySegment dst, CudaStream stream) {
        Objects.requireNonNull(dst, "dst");
        Objects.requireNonNull(stream, "stream");
        requireNative(dst, "dst");
        requireWritable(dst);
        Ranges.check("copyToHostAsync source", srcOffset, dst.byteSize(), byteSize);
        NativeResults.checkCuda("cudaMemcpyAsync", CudaRuntimeApi.cudaMemcpyAsync(dst, deviceAt(srcOffset),
                dst.byteSize(), CudaRuntimeApi.cudaMemcpyDeviceToHost(), stream.handle()));
    }

    /** cudaMemset of the whole buffer to the byte {@code value & 0xff}; synchronous with the host. */
    public void memset(int value) {
        NativeResults.checkCuda("cudaMemset", CudaRuntimeApi.cudaMemset(handle.segment(), value, byteSize));
    }

    /** Frees the memory (cudaFree); later calls do nothing. */
    @Override
    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return handle + (handle.isClosed() ? " (closed)" : "");
    }

    /** A zero-length segment at a device address: passable to native code, never readable from Java. */
    private MemorySegment deviceAt(long offset) {
        return handle.segmentAt(offset);
    }

    private static void memcpy(MemorySegment dst, MemorySegment src, long bytes, int kind) {
        NativeResults.checkCuda("cudaMemcpy", CudaRuntimeApi.cudaMemcpy(dst, src, bytes, kind));
    }

    private static void requireNative(MemorySegment segment, String name) {
        if (!segment.isNative()) {
            throw new IllegalArgumentException(name + " must be native memory for an asynchronous copy, not a heap segment");
        }
    }

    private static void requireWritable(MemorySegment dst) {
        if (dst.isReadOnly()) {
            throw new IllegalArgumentException("dst is read-only");
        }
    }
}
