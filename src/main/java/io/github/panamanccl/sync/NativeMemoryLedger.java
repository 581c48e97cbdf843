package io.github.panamanccl.sync;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts every byte of native memory the sync layer allocates and frees, so tests can prove that repeated
 * updates return to the same footprint. All sync-layer host allocations go through {@link TrackedArena}.
 */
final class NativeMemoryLedger {
    private static final AtomicLong LIVE_BYTES = new AtomicLong();
    private static final AtomicLong LIVE_ALLOCATIONS = new AtomicLong();

    private NativeMemoryLedger() {
    }

    /** Bytes allocated by the sync layer and not yet freed. */
    static long liveBytes() {
        return LIVE_BYTES.get();
    }

    /** Allocations made by the sync layer and not yet freed. */
    static long liveAllocations() {
        return LIVE_ALLOCATIONS.get();
    }

    static void allocated(long bytes) {
        LIVE_BYTES.addAndGet(bytes);
        LIVE_ALLOCATIONS.incrementAndGet();
    }

    static void freed(long bytes, long allocations) {
        LIVE_BYTES.addAndGet(-bytes);
        LIVE_ALLOCATIONS.addAndGet(-allocations);
    }

    /** A shared arena whose allocations are counted; closing it frees (and uncounts) them all. Idempotent close. */
    static final class TrackedArena implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private long bytes;
        private long allocations;
        private boolean closed;

        synchronized MemorySegment allocate(long byteSize, long alignment) {
            if (closed) {
                throw new IllegalStateException("arena already closed");
            }
            MemorySegment segment = arena.allocate(byteSize, alignment);
            bytes += byteSize;
            allocations++;
            allocated(byteSize);
            return segment;
        }

        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            arena.close();
            freed(bytes, allocations);
        }
    }
}
