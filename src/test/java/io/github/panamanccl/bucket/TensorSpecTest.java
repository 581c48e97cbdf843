package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TensorSpecTest {
    private static void assertRejected(String field, String value, Runnable construction) {
        PlanFormatException rejection = assertThrows(PlanFormatException.class, construction::run);
        assertEquals(field, rejection.field(), rejection.getMessage());
        assertEquals(value, rejection.value(), rejection.getMessage());
    }

    @Test
    void sizesOfScalarsEmptiesAndMatrices() {
        TensorSpec embedding = new TensorSpec("model.embed_tokens.weight", DType.BFLOAT16, 151936, 2048);
        assertEquals(311_164_928L, embedding.numel());
        assertEquals(622_329_856L, embedding.byteSize());
        assertEquals(2, embedding.rank());
        TensorSpec scalar = new TensorSpec("scale", DType.FLOAT32);
        assertEquals(1, scalar.numel());
        assertEquals(4, scalar.byteSize());
        TensorSpec empty = new TensorSpec("none", DType.FLOAT64, 3, 0, 5);
        assertEquals(0, empty.byteSize());
        assertEquals("none float64 [3, 0, 5]", empty.toString());
    }

    @Test
    void shapeIsCopiedBothWays() {
        long[] shape = {2, 3};
        TensorSpec spec = new TensorSpec("t", DType.INT32, shape);
        shape[0] = 99;
        spec.shape()[1] = 99;
        assertArrayEquals(new long[] {2, 3}, spec.shape());
        assertEquals(new TensorSpec("t", DType.INT32, 2, 3), spec);
        assertNotEquals(new TensorSpec("t", DType.INT32, 3, 2), spec);
        assertNotEquals(new TensorSpec("t", DType.UINT8, 2, 3), spec);
    }

    @Test
    void rejectsBadShapes() {
        assertRejected("shape[1]", "-1", () -> new TensorSpec("t", DType.UINT8, 4, -1));
        assertRejected("shape", "[4294967296, 4294967296]", () -> new TensorSpec("t", DType.UINT8, 1L << 32, 1L << 32));
        assertRejected("shape", "[4611686018427387904]", () -> new TensorSpec("t", DType.FLOAT32, 1L << 62));
        assertRejected("shape", "33", () -> new TensorSpec("t", DType.UINT8, new long[33]));
    }

    @Test
    void rejectsBadNames() {
        assertRejected("name", "\"\"", () -> new TensorSpec("", DType.UINT8));
        assertRejected("name", "\"a\\u000ab\"", () -> new TensorSpec("a\nb", DType.UINT8));
        assertRejected("name", "\"a\uD800\"", () -> new TensorSpec("a\uD800", DType.UINT8));
        String longest = "é".repeat(TensorSpec.MAX_NAME_BYTES / 2);
        assertEquals(longest, new TensorSpec(longest, DType.UINT8).name());
        PlanFormatException tooLong = assertThrows(PlanFormatException.class, () -> new TensorSpec(longest + "x", DType.UINT8));
        assertEquals("name", tooLong.field());
        assertEquals("1025 UTF-8 bytes, above 1024", tooLong.reason());
    }
}
