package io.github.panamanccl;

import io.github.panamanccl.internal.nccl.NcclApi;
import io.github.panamanccl.internal.nccl.ncclUniqueId;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

/**
 * The 128-byte ncclUniqueId that rank 0 generates and every rank passes to
 * {@link NcclCommunicator#create}. Immutable; travels between processes as bytes or base64.
 */
public final class NcclUniqueId {
    /** NCCL_UNIQUE_ID_BYTES. */
    public static final int BYTES = 128;

    private final byte[] bytes;

    private NcclUniqueId(byte[] bytes) {
        this.bytes = bytes;
    }

    /** ncclGetUniqueId: a fresh id (rank 0 calls this and shares the result). */
    public static NcclUniqueId generate() {
        Nccl.ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment id = ncclUniqueId.allocate(arena);
            NativeResults.checkNccl("ncclGetUniqueId", NcclApi.ncclGetUniqueId(id));
            return new NcclUniqueId(id.toArray(JAVA_BYTE));
        }
    }

    /** An id from its 128 raw bytes (copied). */
    public static NcclUniqueId fromBytes(byte[] bytes) {
        Objects.requireNonNull(bytes, "bytes");
        if (bytes.length != BYTES) {
            throw new IllegalArgumentException("an ncclUniqueId has " + BYTES + " bytes, got " + bytes.length);
        }
        return new NcclUniqueId(bytes.clone());
    }

    /** An id from the text {@link #toBase64()} wrote. */
    public static NcclUniqueId fromBase64(String base64) {
        Objects.requireNonNull(base64, "base64");
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(base64.strip());
        } catch (IllegalArgumentException notBase64) {
            throw new IllegalArgumentException("ncclUniqueId text is not base64: " + notBase64.getMessage(), notBase64);
        }
        if (decoded.length != BYTES) {
            throw new IllegalArgumentException("ncclUniqueId text decodes to " + decoded.length + " bytes, not " + BYTES);
        }
        return new NcclUniqueId(decoded);
    }

    /** The 128 raw bytes (a copy). */
    public byte[] toBytes() {
        return bytes.clone();
    }

    /** The id as standard base64 (172 characters). */
    public String toBase64() {
        return Base64.getEncoder().encodeToString(bytes);
    }

    /** The id as an ncclUniqueId struct, for passing by value. */
    MemorySegment toStruct(SegmentAllocator allocator) {
        return ncclUniqueId.allocate(allocator).copyFrom(MemorySegment.ofArray(bytes));
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof NcclUniqueId id && Arrays.equals(bytes, id.bytes);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(bytes);
    }

    /** Deliberately short: the id is a rendezvous secret of sorts, and 172 characters of noise in logs. */
    @Override
    public String toString() {
        return "NcclUniqueId[" + toBase64().substring(0, 8) + "...]";
    }
}
