package io.github.panamanccl.bucket;

import io.github.panamanccl.NcclDataType;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DTypeTest {
    @Test
    void torchNamesSizesAndCodes() {
        assertEquals("bfloat16", DType.BFLOAT16.torchName());
        assertEquals("float8_e4m3fn", DType.FLOAT8_E4M3FN.torchName());
        assertEquals(2, DType.BFLOAT16.byteSize());
        assertEquals(8, DType.INT64.byteSize());
        assertEquals(1, DType.BOOL.byteSize());
        Set<Integer> codes = new HashSet<>();
        for (DType type : DType.values()) {
            assertSame(type, DType.fromTorchName(type.torchName()));
            assertSame(type, DType.fromTorchName("torch." + type.torchName()));
            assertSame(type, DType.fromCodeOrNull(type.code()));
            assertTrue(codes.add(type.code()), "unique code " + type);
            assertTrue(type.byteSize() <= DType.MAX_BYTE_SIZE);
        }
        assertEquals(12, codes.size());
        assertEquals(null, DType.fromCodeOrNull(12));
        assertEquals(null, DType.fromCodeOrNull(-1));
    }

    @Test
    void unknownNamesAreRejected() {
        IllegalArgumentException rejection = assertThrows(IllegalArgumentException.class, () -> DType.fromTorchName("bf16"));
        assertTrue(rejection.getMessage().contains("bf16"), rejection.getMessage());
        assertThrows(IllegalArgumentException.class, () -> DType.fromTorchName("BFLOAT16"));
    }

    @Test
    void ncclTypesWhereNcclHasThem() {
        assertEquals(Optional.of(NcclDataType.BFLOAT16), DType.BFLOAT16.ncclDataType());
        assertEquals(Optional.of(NcclDataType.FLOAT8_E4M3), DType.FLOAT8_E4M3FN.ncclDataType());
        assertEquals(Optional.of(NcclDataType.UINT8), DType.BOOL.ncclDataType());
        assertEquals(Optional.empty(), DType.INT16.ncclDataType());
        for (DType type : DType.values()) {
            type.ncclDataType().ifPresent(nccl -> assertEquals(type.byteSize(), nccl.byteSize(), type.torchName()));
        }
        assertTrue(DType.FLOAT8_E5M2.isFloatingPoint());
        assertFalse(DType.INT8.isFloatingPoint());
    }
}
