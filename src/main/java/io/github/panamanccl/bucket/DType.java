package io.github.panamanccl.bucket;

import io.github.panamanccl.NcclDataType;

import java.util.Optional;

/**
 * Element type of a tensor. Canonical names are PyTorch's ({@code torch.bfloat16} is {@code "bfloat16"}),
 * so plans and inventories interoperate with Python tools.
 *
 * <p>Each constant has a fixed one-byte {@link #code()} used by the binary plan format; codes never change
 * meaning across format versions.
 */
public enum DType {
    /** {@code torch.bool}: one byte per element (0 or 1); broadcast as {@link NcclDataType#UINT8}. */
    BOOL("bool", 1, 0, NcclDataType.UINT8),
    /** {@code torch.uint8}: unsigned 8-bit integer. */
    UINT8("uint8", 1, 1, NcclDataType.UINT8),
    /** {@code torch.int8}: signed 8-bit integer. */
    INT8("int8", 1, 2, NcclDataType.INT8),
    /** {@code torch.int16}: signed 16-bit integer; NCCL has no matching type. */
    INT16("int16", 2, 3, null),
    /** {@code torch.int32}: signed 32-bit integer. */
    INT32("int32", 4, 4, NcclDataType.INT32),
    /** {@code torch.int64}: signed 64-bit integer. */
    INT64("int64", 8, 5, NcclDataType.INT64),
    /** {@code torch.float16}: IEEE 754 half precision. */
    FLOAT16("float16", 2, 6, NcclDataType.FLOAT16),
    /** {@code torch.bfloat16}: bfloat16 (8-bit exponent, 7-bit mantissa). */
    BFLOAT16("bfloat16", 2, 7, NcclDataType.BFLOAT16),
    /** {@code torch.float32}: IEEE 754 single precision. */
    FLOAT32("float32", 4, 8, NcclDataType.FLOAT32),
    /** {@code torch.float64}: IEEE 754 double precision. */
    FLOAT64("float64", 8, 9, NcclDataType.FLOAT64),
    /** {@code torch.float8_e4m3fn}: 8-bit float, 4-bit exponent, 3-bit mantissa, finite only (no infinities). */
    FLOAT8_E4M3FN("float8_e4m3fn", 1, 10, NcclDataType.FLOAT8_E4M3),
    /** {@code torch.float8_e5m2}: 8-bit float, 5-bit exponent, 2-bit mantissa. */
    FLOAT8_E5M2("float8_e5m2", 1, 11, NcclDataType.FLOAT8_E5M2);

    /** The largest {@link #byteSize()} of any type. */
    public static final int MAX_BYTE_SIZE = 8;

    private static final DType[] BY_CODE = new DType[256];

    static {
        for (DType type : values()) {
            BY_CODE[type.code] = type;
        }
    }

    private final String torchName;
    private final int byteSize;
    private final int code;
    private final NcclDataType ncclType;

    DType(String torchName, int byteSize, int code, NcclDataType ncclType) {
        this.torchName = torchName;
        this.byteSize = byteSize;
        this.code = code;
        this.ncclType = ncclType;
    }

    /** The PyTorch name, e.g. {@code "bfloat16"}. */
    public String torchName() {
        return torchName;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The stable code of this type in the binary plan format (0..255). */
    public int code() {
        return code;
    }

    /** True for the floating-point types (including the fp8 formats). */
    public boolean isFloatingPoint() {
        return switch (this) {
            case FLOAT16, BFLOAT16, FLOAT32, FLOAT64, FLOAT8_E4M3FN, FLOAT8_E5M2 -> true;
            default -> false;
        };
    }

    /**
     * The matching NCCL datatype, empty where NCCL has none (int16). {@code bool} maps to {@code UINT8}, as in
     * PyTorch's NCCL process group. Buckets themselves are always broadcast as raw bytes ({@code UINT8}); this is
     * for sending a single typed tensor.
     */
    public Optional<NcclDataType> ncclDataType() {
        return Optional.ofNullable(ncclType);
    }

    /**
     * The type with this PyTorch name; a {@code "torch."} prefix is accepted.
     *
     * @throws IllegalArgumentException for an unknown name
     */
    public static DType fromTorchName(String name) {
        String bare = name.startsWith("torch.") ? name.substring("torch.".length()) : name;
        for (DType type : values()) {
            if (type.torchName.equals(bare)) {
                return type;
            }
        }
        throw new IllegalArgumentException("unknown dtype '" + name + "'; known: " + knownNames());
    }

    /** The type with this binary-format code, or null when no type has it. */
    static DType fromCodeOrNull(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    static String knownNames() {
        StringBuilder names = new StringBuilder();
        for (DType type : values()) {
            names.append(names.isEmpty() ? "" : ", ").append(type.torchName);
        }
        return names.toString();
    }
}
