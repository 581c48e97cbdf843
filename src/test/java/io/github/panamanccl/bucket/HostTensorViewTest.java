package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HostTensorViewTest {
    private static HostTensorView viewOf(Arena arena, DType dtype, int... rawElements) {
        MemorySegment bytes = arena.allocate((long) rawElements.length * dtype.byteSize());
        for (int i = 0; i < rawElements.length; i++) {
            switch (dtype.byteSize()) {
                case 1 -> bytes.set(ValueLayout.JAVA_BYTE, i, (byte) rawElements[i]);
                case 2 -> bytes.set(Elements.SHORT, 2L * i, (short) rawElements[i]);
                default -> bytes.set(Elements.INT, 4L * i, rawElements[i]);
            }
        }
        return HostTensorView.of(new TensorSpec("t", dtype, rawElements.length), bytes);
    }

    @Test
    void decodesHalfPrecisionFormats() {
        try (Arena arena = Arena.ofConfined()) {
            assertArrayEquals(new float[] {1f, -2f, 3.140625f, Float.POSITIVE_INFINITY},
                    viewOf(arena, DType.BFLOAT16, 0x3F80, 0xC000, 0x4049, 0x7F80).toFloatArray());
            assertArrayEquals(new float[] {1f, -2f, 65504f, 0x1p-24f},
                    viewOf(arena, DType.FLOAT16, 0x3C00, 0xC000, 0x7BFF, 0x0001).toFloatArray());
        }
    }

    @Test
    void decodesFp8Formats() {
        try (Arena arena = Arena.ofConfined()) {
            // e4m3fn: 0x38 = 1.0, 0x7E = 448 (max), 0x01 = 2^-9 (smallest subnormal), 0xB8 = -1, 0x7F = NaN
            float[] e4m3 = viewOf(arena, DType.FLOAT8_E4M3FN, 0x38, 0x7E, 0x01, 0xB8, 0x7F, 0x08).toFloatArray();
            assertArrayEquals(new float[] {1f, 448f, 0x1p-9f, -1f}, java.util.Arrays.copyOf(e4m3, 4));
            assertTrue(Float.isNaN(e4m3[4]));
            assertEquals(0x1p-6f, e4m3[5], "smallest normal");
            // e5m2: 0x3C = 1.0, 0x7B = 57344 (max), 0x7C = inf, 0x01 = 2^-16
            assertArrayEquals(new float[] {1f, 57344f, Float.POSITIVE_INFINITY, 0x1p-16f},
                    viewOf(arena, DType.FLOAT8_E5M2, 0x3C, 0x7B, 0x7C, 0x01).toFloatArray());
        }
    }

    @Test
    void e4m3fnPositiveCodesIncreaseStrictly() {
        try (Arena arena = Arena.ofConfined()) {
            int[] codes = new int[127];
            for (int i = 0; i < codes.length; i++) {
                codes[i] = i;
            }
            float[] values = viewOf(arena, DType.FLOAT8_E4M3FN, codes).toFloatArray();
            assertEquals(0f, values[0]);
            for (int i = 1; i < values.length; i++) {
                assertTrue(values[i] > values[i - 1], "code " + i);
            }
        }
    }

    @Test
    void integerAndBoolAccess() {
        try (Arena arena = Arena.ofConfined()) {
            HostTensorView uint8 = viewOf(arena, DType.UINT8, 0xff, 7);
            assertEquals(255, uint8.getLong(0));
            assertEquals(255f, uint8.getFloat(0));
            assertEquals(-1, viewOf(arena, DType.INT8, 0xff).getLong(0));
            assertEquals(1, viewOf(arena, DType.BOOL, 0, 2).getLong(1));
            assertEquals(-123456, viewOf(arena, DType.INT32, -123456).getDouble(0));
            assertThrows(UnsupportedOperationException.class, () -> viewOf(arena, DType.BFLOAT16, 0).getLong(0));
            assertThrows(IndexOutOfBoundsException.class, () -> uint8.getFloat(2));
        }
    }

    @Test
    void float32AndFloat64BulkAndSingle() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(8 * 3 + 1).asSlice(1, 8 * 3); // deliberately misaligned
            bytes.set(Elements.DOUBLE, 0, 1.5);
            bytes.set(Elements.DOUBLE, 8, -0.1);
            bytes.set(Elements.DOUBLE, 16, 1e300);
            HostTensorView view = HostTensorView.of(new TensorSpec("d", DType.FLOAT64, 3), bytes);
            assertEquals(-0.1, view.getDouble(1));
            float[] some = new float[4];
            view.copyTo(1, some, 2, 2);
            assertArrayEquals(new float[] {0f, 0f, -0.1f, Float.POSITIVE_INFINITY}, some);
        }
    }

    @Test
    void viewsInsideABucketShareItsMemory() {
        List<TensorSpec> inventory = List.of(new TensorSpec("a", DType.FLOAT32, 3), new TensorSpec("b", DType.BFLOAT16, 2, 2),
                new TensorSpec("s", DType.INT64), new TensorSpec("e", DType.INT8, 0));
        BucketPlan plan = BucketPlanner.plan(inventory, 1 << 10, 16);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            MemorySegment bucket = PlanFixtures.packAll(arena, plan, sources)[0];
            HostTensorView b = plan.hostView(1, bucket);
            assertEquals(16, b.offset());
            assertEquals(8, b.byteSize());
            assertEquals(MemoryKind.HOST, b.memoryKind());
            assertEquals("b", b.name());
            assertArrayEquals(new long[] {2, 2}, b.shape());
            assertEquals(bucket.address() + 16, b.segment().address(), "a slice, not a copy");
            assertEquals(Float.intBitsToFloat(sources[1].get(Elements.SHORT, 6) << 16), b.getFloat(3));
            assertEquals(sources[2].get(Elements.LONG, 0), plan.hostView(2, bucket).getLong(0));
            assertEquals(0, plan.hostView(3, bucket).segment().byteSize());
            assertThrows(IllegalArgumentException.class, () -> plan.hostView(0, bucket.asSlice(0, 8)));
        }
    }

    @Test
    void splitTensorsHaveNoViewInsideBuckets() {
        BucketPlan plan = BucketPlanner.plan(List.of(new TensorSpec("big", DType.FLOAT32, 100)), 64);
        try (Arena arena = Arena.ofConfined()) {
            IllegalArgumentException rejection = assertThrows(IllegalArgumentException.class,
                    () -> plan.hostView(0, arena.allocate(64)));
            assertTrue(rejection.getMessage().contains("split across 7 buckets"), rejection.getMessage());
        }
    }

    @Test
    void writesNarrowFormatsRoundedToNearestTiesToEven() {
        try (Arena arena = Arena.ofConfined()) {
            HostTensorView bf16 = viewOf(arena, DType.BFLOAT16, 0, 0, 0, 0);
            bf16.setFloat(0, 1f);
            bf16.setFloat(1, 1 + 0x1p-8f); // halfway between 1 and 1 + 2^-7: to the even one, 1
            bf16.setDouble(2, 1 + 0x1p-8 + 0x1p-30); // just above halfway: up
            bf16.setFloat(3, Float.MAX_VALUE); // beyond bf16's largest finite value: infinity
            assertEquals(List.of((short) 0x3F80, (short) 0x3F80, (short) 0x3F81, (short) 0x7F80), shorts(bf16));

            HostTensorView e4m3 = viewOf(arena, DType.FLOAT8_E4M3FN, 0, 0, 0);
            e4m3.copyFrom(0, new float[] {7f, -0.3f, 500f, 1f}, 1, 3);
            assertEquals(-0.3125f, e4m3.getFloat(0), "nearest of -0.3");
            assertTrue(Float.isNaN(e4m3.getFloat(1)), "e4m3fn has no infinity: overflow is NaN");
            assertEquals(1f, e4m3.getFloat(2));

            HostTensorView e5m2 = viewOf(arena, DType.FLOAT8_E5M2, 0, 0);
            e5m2.setFloat(0, -1e6f);
            e5m2.setFloat(1, 0.75f);
            assertArrayEquals(new float[] {Float.NEGATIVE_INFINITY, 0.75f}, e5m2.toFloatArray());

            HostTensorView fp16 = viewOf(arena, DType.FLOAT16, 0, 0);
            fp16.copyFrom(0, new float[] {65504f, 0x1p-24f}, 0, 2);
            assertArrayEquals(new float[] {65504f, 0x1p-24f}, fp16.toFloatArray(), "representable values are exact");
        }
    }

    @Test
    void float32AndFloat64WritesAreExactAndIntegerWritesAreRangeChecked() {
        try (Arena arena = Arena.ofConfined()) {
            HostTensorView f32 = HostTensorView.of(new TensorSpec("f", DType.FLOAT32, 3), arena.allocate(12));
            f32.copyFrom(0, new float[] {0.1f, -7.5f, Float.MIN_VALUE}, 0, 3);
            assertArrayEquals(new float[] {0.1f, -7.5f, Float.MIN_VALUE}, f32.toFloatArray());
            HostTensorView f64 = HostTensorView.of(new TensorSpec("d", DType.FLOAT64, 1), arena.allocate(8));
            f64.setDouble(0, Math.PI);
            assertEquals(Math.PI, f64.getDouble(0));

            HostTensorView u8 = HostTensorView.of(new TensorSpec("u", DType.UINT8, 2), arena.allocate(2));
            u8.setLong(0, 255);
            assertEquals(255, u8.getLong(0));
            IllegalArgumentException tooLarge = assertThrows(IllegalArgumentException.class, () -> u8.setLong(1, 256));
            assertEquals("256 does not fit uint8 [0, 255]", tooLarge.getMessage());
            HostTensorView flag = HostTensorView.of(new TensorSpec("b", DType.BOOL, 1), arena.allocate(1));
            assertThrows(IllegalArgumentException.class, () -> flag.setLong(0, 2));
            HostTensorView i64 = HostTensorView.of(new TensorSpec("l", DType.INT64, 1), arena.allocate(8));
            i64.setLong(0, Long.MIN_VALUE);
            assertEquals(Long.MIN_VALUE, i64.getLong(0));

            assertEquals("int64 is an integer type; write it with setLong",
                    assertThrows(UnsupportedOperationException.class, () -> i64.setFloat(0, 1f)).getMessage());
            assertThrows(UnsupportedOperationException.class, () -> u8.copyFrom(0, new float[1], 0, 1));
            assertThrows(UnsupportedOperationException.class, () -> f32.setLong(0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> f32.setFloat(3, 1f));
            assertThrows(IndexOutOfBoundsException.class, () -> f32.copyFrom(2, new float[2], 0, 2));
            assertEquals(-7.5f, f32.getFloat(1), "a rejected write changes nothing");
        }
    }

    private static List<Short> shorts(HostTensorView view) {
        return java.util.stream.LongStream.range(0, view.spec().numel())
                .mapToObj(i -> view.segment().get(Elements.SHORT, 2 * i)).toList();
    }
}
