package io.github.panamanccl;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The ncclConfig_t bytes, offset by offset (x86-64 layout of NCCL 2.30). */
class NcclConfigTest {
    private static final long[] INT_FIELD_OFFSETS = {20, 24, 28, 40, 44, 56, 60, 64, 68, 72, 76, 80, 84, 88, 92};

    @Test
    void matchesTheInitializerWithTheRunningVersion() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment config = NcclConfig.allocate(arena, 23007, false);

            assertEquals(96, config.byteSize());
            assertEquals(96, NcclConfig.SIZE);
            assertEquals(96L, config.get(JAVA_LONG, 0), "size");
            assertEquals(0xcafebeef, config.get(JAVA_INT, 8), "magic");
            assertEquals(23007, config.get(JAVA_INT, 12), "version");
            assertEquals(0, config.get(JAVA_INT, 16), "blocking");
            for (long offset : INT_FIELD_OFFSETS) {
                assertEquals(Integer.MIN_VALUE, config.get(JAVA_INT, offset), "int field at " + offset);
            }
            assertEquals(0L, config.get(JAVA_LONG, 32), "netName");
            assertEquals(0L, config.get(JAVA_LONG, 48), "commName");
        }
    }

    @Test
    void blockingIsOneWhenAsked() {
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(1, NcclConfig.allocate(arena, 21400, true).get(JAVA_INT, 16));
            assertEquals(21400, NcclConfig.allocate(arena, 21400, true).get(JAVA_INT, 12));
        }
    }
}
