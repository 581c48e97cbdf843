package io.github.panamanccl;

import io.github.panamanccl.internal.nccl.NcclApi;
import io.github.panamanccl.internal.nccl.ncclConfig_t;

import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/**
 * Builds ncclConfig_t the way NCCL_CONFIG_INITIALIZER does, in the NCCL 2.30 layout (96 bytes):
 * {@code size} = 96, {@code magic} = 0xcafebeef, {@code version} = the running library's version code,
 * every int field NCCL_CONFIG_UNDEF_INT (INT_MIN, "keep the library default"), every pointer NULL,
 * and {@code blocking} as asked.
 *
 * <p>Why this one layout is valid for every NCCL from 2.14 (where ncclConfig_t appeared) on: the library
 * copies min(size, its own sizeof) bytes over its defaults, rejects a wrong magic, and resets fields newer
 * than {@code version}. An older library therefore reads only the prefix it knows (its fields sit at the
 * same offsets, the struct only grew at the end), and a newer one keeps its defaults for what lies past
 * our 96 bytes. Since {@code version} is the running library's own code, nothing we set is reset as
 * "newer than the caller".
 */
final class NcclConfig {
    /** sizeof(ncclConfig_t) in 2.30. */
    static final long SIZE = ncclConfig_t.sizeof();

    private NcclConfig() {
    }

    /**
     * A config for {@code versionCode}'s library.
     *
     * @param blocking false makes calls return ncclInProgress and finish in the background
     */
    static MemorySegment allocate(SegmentAllocator allocator, int versionCode, boolean blocking) {
        MemorySegment config = ncclConfig_t.allocate(allocator);
        for (MemoryLayout field : ncclConfig_t.layout().memberLayouts()) {
            if (field instanceof ValueLayout.OfInt) {
                long offset = ncclConfig_t.layout().byteOffset(MemoryLayout.PathElement.groupElement(field.name().orElseThrow()));
                config.set(ValueLayout.JAVA_INT, offset, NcclApi.NCCL_CONFIG_UNDEF_INT());
            }
        }
        ncclConfig_t.size(config, SIZE);
        ncclConfig_t.magic(config, NcclApi.NCCL_CONFIG_MAGIC());
        ncclConfig_t.version(config, versionCode);
        ncclConfig_t.blocking(config, blocking ? 1 : 0);
        ncclConfig_t.netName(config, MemorySegment.NULL);
        ncclConfig_t.commName(config, MemorySegment.NULL);
        return config;
    }
}
