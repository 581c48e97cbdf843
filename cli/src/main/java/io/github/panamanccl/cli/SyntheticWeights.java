package io.github.panamanccl.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import java.util.zip.CRC32C;

import io.github.panamanccl.bucket.TensorSpec;

/**
 * Host tensors of a synthetic model: one allocation per tensor (as a framework holds them), contents that
 * depend on (version, tensor) so a stale or misplaced tensor never passes verification, and CRC32C checksums.
 * Public for the benchmarks in bench/.
 */
public final class SyntheticWeights {
    /** Tensor start alignment, as CUDA and PyTorch allocators give. */
    private static final long ALIGNMENT = 256;
    private static final int CRC_CHUNK = 1 << 30;

    private SyntheticWeights() {
    }

    /** One zeroed segment per tensor, each exactly the tensor's byte size. */
    public static MemorySegment[] allocate(List<TensorSpec> tensors, Arena arena) {
        MemorySegment[] segments = new MemorySegment[tensors.size()];
        for (int i = 0; i < segments.length; i++) {
            segments[i] = arena.allocate(tensors.get(i).byteSize(), ALIGNMENT);
        }
        return segments;
    }

    /** The segments by tensor name, in inventory order. */
    public static Map<String, MemorySegment> byName(List<TensorSpec> tensors, MemorySegment[] segments) {
        Map<String, MemorySegment> byName = LinkedHashMap.newLinkedHashMap(segments.length);
        for (int i = 0; i < segments.length; i++) {
            byName.put(tensors.get(i).name(), segments[i]);
        }
        return byName;
    }

    /** Fills every tensor with the pseudo-random contents of {@code version} (in parallel over tensors). */
    public static void fill(MemorySegment[] tensors, long version) {
        IntStream.range(0, tensors.length).parallel().forEach(i -> fill(tensors[i], version, i));
    }

    /** CRC32C of every tensor (in parallel over tensors). */
    public static int[] checksums(MemorySegment[] tensors) {
        return IntStream.range(0, tensors.length).parallel().map(i -> checksum(tensors[i])).toArray();
    }

    static int checksum(MemorySegment segment) {
        CRC32C crc = new CRC32C();
        for (long offset = 0; offset < segment.byteSize(); offset += CRC_CHUNK) {
            ByteBuffer chunk = segment.asSlice(offset, Math.min(CRC_CHUNK, segment.byteSize() - offset)).asByteBuffer();
            crc.update(chunk);
        }
        return (int) crc.getValue();
    }

    /** Fills one tensor (or a host image of it) with the contents of {@code version}. */
    static void fill(MemorySegment segment, long version, int tensor) {
        long state = mix(version * 0x9E3779B97F4A7C15L + tensor);
        long words = segment.byteSize() / Long.BYTES;
        for (long i = 0; i < words; i++) {
            // xorshift64: cheap, never zero once seeded non-zero, different for every (version, tensor).
            state ^= state << 13;
            state ^= state >>> 7;
            state ^= state << 17;
            segment.setAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i, state);
        }
        for (long i = words * Long.BYTES; i < segment.byteSize(); i++) {
            segment.set(ValueLayout.JAVA_BYTE, i, (byte) (state >>> (8 * (i & 7))));
        }
    }

    /** splitmix64 finaliser, forced non-zero for xorshift. */
    private static long mix(long seed) {
        long z = seed + 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return z == 0 ? 1 : z;
    }
}
