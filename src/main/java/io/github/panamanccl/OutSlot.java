package io.github.panamanccl;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.function.ToIntFunction;

import static java.lang.foreign.ValueLayout.ADDRESS;

/**
 * Per-thread native scratch for the out-parameters of short queries, so that a query allocates nothing per call
 * (an arena per call costs several times the downcall itself). A thread's slot is freed by the garbage collector
 * once the thread is gone. Use only between writing the out-parameter and reading it back, around one native call
 * that never calls back into Java: nothing else may use the slot in between.
 */
final class OutSlot {
    /** Enough for the largest out-parameter it serves (a PCI bus id string). */
    static final long BYTES = 64;

    private static final ThreadLocal<MemorySegment> SLOT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(BYTES, Long.BYTES));

    private OutSlot() {
    }

    /** This thread's slot, its first {@code bytes} bytes zeroed; {@code bytes} at most {@link #BYTES}. */
    static MemorySegment zeroed(long bytes) {
        MemorySegment slot = SLOT.get();
        slot.asSlice(0, bytes).fill((byte) 0);
        return slot;
    }

    /**
     * Calls a CUDA function whose out-parameter is a pointer ({@code void**}, {@code cudaStream_t*}, ...) with this
     * thread's slot, checks its result and returns the pointer it wrote, as an address.
     */
    static long cudaPointer(String call, ToIntFunction<MemorySegment> function) {
        MemorySegment out = zeroed(ADDRESS.byteSize());
        NativeResults.checkCuda(call, function.applyAsInt(out));
        return out.get(ADDRESS, 0).address();
    }
}
