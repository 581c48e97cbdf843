package io.github.panamanccl;

/** ncclDataType_t values, with their element sizes. */
public enum NcclDataType {
    INT8(0, 1),
    UINT8(1, 1),
    INT32(2, 4),
    UINT32(3, 4),
    INT64(4, 8),
    UINT64(5, 8),
    FLOAT16(6, 2),
    FLOAT32(7, 4),
    FLOAT64(8, 8),
    BFLOAT16(9, 2),
    /** fp8 types exist since NCCL 2.24. */
    FLOAT8_E4M3(10, 1),
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
