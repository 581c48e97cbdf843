package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;

/**
 * Host tensors of a built-in inventory scaled to a byte budget (every tensor kept), each its own allocation, as a
 * training framework would hold them, filled with a non-zero pattern so no page is left untouched.
 */
final class SyntheticModel {
    private SyntheticModel() {
    }

    /** The built-in inventory {@code name} scaled down until it fits in {@code maxBytes}. */
    static Inventory inventory(String name, long maxBytes) {
        return Inventory.builtIn(name).scaledToFit(maxBytes);
    }

    /** One 256-byte-aligned segment per tensor, filled from {@code seed}. */
    static MemorySegment[] allocate(Inventory inventory, Arena arena, long seed) {
        MemorySegment[] tensors = new MemorySegment[inventory.size()];
        for (int i = 0; i < tensors.length; i++) {
            TensorSpec spec = inventory.tensors().get(i);
            tensors[i] = arena.allocate(spec.byteSize(), 256);
            fill(tensors[i], seed + i);
        }
        return tensors;
    }

    /** Same sizes as {@link #allocate}, zeroed (destinations). */
    static MemorySegment[] allocateZeroed(Inventory inventory, Arena arena) {
        MemorySegment[] tensors = new MemorySegment[inventory.size()];
        for (int i = 0; i < tensors.length; i++) {
            tensors[i] = arena.allocate(inventory.tensors().get(i).byteSize(), 256);
        }
        return tensors;
    }

    private static void fill(MemorySegment segment, long seed) {
        long state = seed * 0x9E3779B97F4A7C15L + 1;
        long longs = segment.byteSize() / Long.BYTES;
        for (long i = 0; i < longs; i++) {
            state ^= state << 13;
            state ^= state >>> 7;
            state ^= state << 17;
            segment.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, state);
        }
        for (long i = longs * Long.BYTES; i < segment.byteSize(); i++) {
            segment.set(ValueLayout.JAVA_BYTE, i, (byte) (state >>> (8 * (i & 7))));
        }
    }
}
