package io.github.panamanccl.testing;

import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.PlanCodec;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Writes the binary plan format field by field with any values, valid or not, independently of {@link PlanCodec}
 * (no front coding), so tests can build exactly the malformed input they need.
 */
public final class RawPlanWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    public RawPlanWriter header(long cap, long alignment, long tensors, long buckets, long pieces) {
        return raw('P', 'N', 'B', 'P').u16(1).u16(0).u64(cap).u32(alignment).u32(tensors).u32(buckets).u32(pieces);
    }

    public RawPlanWriter raw(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    public RawPlanWriter u16(int value) {
        return raw(value & 0xff, (value >>> 8) & 0xff);
    }

    public RawPlanWriter u32(long value) {
        return u16((int) value).u16((int) (value >>> 16));
    }

    public RawPlanWriter u64(long value) {
        return u32(value).u32(value >>> 32);
    }

    public RawPlanWriter varint(long value) {
        while ((value & ~0x7fL) != 0) {
            out.write((int) ((value & 0x7f) | 0x80));
            value >>>= 7;
        }
        out.write((int) value);
        return this;
    }

    /** A tensor record with no shared prefix; pieces as (bucketDelta, offset, length) triples. */
    public RawPlanWriter tensor(String name, DType dtype, long[] shape, long... pieceTriples) {
        return tensor(name.getBytes(StandardCharsets.UTF_8), dtype.code(), shape, pieceTriples);
    }

    public RawPlanWriter tensor(byte[] name, int dtypeCode, long[] shape, long... pieceTriples) {
        varint(0).varint(name.length);
        out.writeBytes(name);
        raw(dtypeCode, shape.length);
        for (long dim : shape) {
            varint(dim);
        }
        varint(pieceTriples.length / 3);
        for (long value : pieceTriples) {
            varint(value);
        }
        return this;
    }

    public byte[] bytes() {
        return out.toByteArray();
    }
}
