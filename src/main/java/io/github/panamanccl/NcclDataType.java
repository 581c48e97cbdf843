package io.github.panamanccl;

/** ncclDataType_t values, with their element sizes. */
public enum NcclDataType {
    /** ncclInt8 (also ncclChar): signed 8-bit integer. */
    INT8(0, 1),
    /** ncclUint8: unsigned 8-bit integer; raw bytes (how buckets are broadcast). */
    UINT8(1, 1),
    /** ncclInt32 (also ncclInt): signed 32-bit integer. */
    INT32(2, 4),
    /** ncclUint32: unsigned 32-bit integer. */
    UINT32(3, 4),
    /** ncclInt64: signed 64-bit integer. */
    INT64(4, 8),
    /** ncclUint64: unsigned 64-bit integer. */
    UINT64(5, 8),
    /** ncclFloat16 (also ncclHalf): IEEE 754 half precision. */
    FLOAT16(6, 2),
    /** ncclFloat32 (also ncclFloat): IEEE 754 single precision. */
    FLOAT32(7, 4),
    /** ncclFloat64 (also ncclDouble): IEEE 754 double precision. */
    FLOAT64(8, 8),
    /** ncclBfloat16: bfloat16. */
    BFLOAT16(9, 2),
    /** ncclFloat8e4m3: 8-bit float, 4-bit exponent, 3-bit mantissa; NCCL 2.24 and later. */
    FLOAT8_E4M3(10, 1),
    /** ncclFloat8e5m2: 8-bit float, 5-bit exponent, 2-bit mantissa; NCCL 2.24 and later. */
    FLOAT8_E5M2(11, 1);

    private final int code;
    private final int byteSize;

    NcclDataType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** The ncclDataType_t value. */
    public int code() {
        return code;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The type with ncclDataType_t value {@code code}. */
    public static NcclDataType fromCode(int code) {
        for (NcclDataType type : values()) {
            if (type.code == code) {
                return type;
            }
        }
        throw new IllegalArgumentException("unknown ncclDataType_t code: " + code);
    }
}
