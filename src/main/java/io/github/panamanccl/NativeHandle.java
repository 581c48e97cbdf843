package io.github.panamanccl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A native resource whose destructor is tied to its own shared arena: closing the arena runs the
 * destructor exactly once. While a downcall receives {@link #segment()}, the arena cannot be closed
 * (FFM keeps it acquired), so a resource is never freed under a running call.
 */
final class NativeHandle {
    private final String description;
    private final Arena arena;
    private final MemorySegment segment;
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * @param description names the resource in errors, e.g. "DeviceBuffer[0x7f.., 1024 bytes]"
     * @param address     the native handle or pointer
     * @param byteSize    how many bytes Java may access through {@link #segment()}: 0 for handles and device
     *                    memory, which Java must never dereference
     * @param destructor  frees the resource; receives a segment at {@code address}
     */
    @SuppressWarnings("restricted") // size and destructor come from the call that created the resource
    NativeHandle(String description, long address, long byteSize, Consumer<MemorySegment> destructor) {
        this.description = description;
        this.arena = Arena.ofShared();
        this.segment = MemorySegment.ofAddress(address).reinterpret(byteSize, arena, destructor);
    }

    /** The handle as a segment tied to this resource's lifetime. */
    MemorySegment segment() {
        requireOpen();
        return segment;
    }

    /**
     * A zero-length segment {@code offset} bytes past the handle's address, tied to this resource's lifetime
     * (a downcall that receives it keeps the resource from being freed meanwhile).
     */
    @SuppressWarnings("restricted") // zero length: a handle into the resource, never dereferenced
    MemorySegment segmentAt(long offset) {
        requireOpen();
        return offset == 0 ? segment : MemorySegment.ofAddress(segment.address() + offset).reinterpret(arena, null);
    }

    /** The native address. */
    long address() {
        requireOpen();
        return segment.address();
    }

    void requireOpen() {
        if (closed.get()) {
            throw new IllegalStateException(description + " is closed");
        }
    }

    boolean isClosed() {
        return closed.get();
    }

    /** Runs the destructor the first time; later calls do nothing. */
    void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            arena.close();
        } catch (IllegalStateException inUse) {
            // A concurrent downcall still holds the arena: nothing was freed, so the resource stays open.
            closed.set(false);
            throw new IllegalStateException(description + " cannot be closed while a native call uses it", inUse);
        }
    }

    @Override
    public String toString() {
        return description;
    }
}
