package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The narrow formats' encoder against the decoder and against independent references. */
class NarrowFloatTest {
    private static final SplittableRandom RANDOM = new SplittableRandom(13);

    private static DType dtypeOf(NarrowFloat format) {
        return DType.valueOf(format.name());
    }

    /** Every code decodes and encodes back to itself, except that every NaN code becomes the format's NaN. */
    @ParameterizedTest
    @EnumSource(NarrowFloat.class)
    void everyCodeRoundTripsThroughFloat(NarrowFloat format) {
        DType dtype = dtypeOf(format);
        int codes = 1 << (8 * dtype.byteSize());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate((long) codes * dtype.byteSize());
            for (int code = 0; code < codes; code++) {
                if (dtype.byteSize() == 1) {
                    bytes.set(ValueLayout.JAVA_BYTE, code, (byte) code);
                } else {
                    bytes.set(Elements.SHORT, 2L * code, (short) code);
                }
            }
            HostTensorView view = HostTensorView.of(new TensorSpec("all", dtype, codes), bytes);
            for (int code = 0; code < codes; code++) {
                float value = view.getFloat(code);
                // A NaN comes back as the format's NaN (with the sign the decoded float has).
                int encoded = Float.isNaN(value) ? format.encode(value) & ~signBit(dtype) : format.encode(value);
                assertEquals(Float.isNaN(value) ? format.encode(Float.NaN) : code, encoded,
                        "code 0x" + Integer.toHexString(code) + " = " + value);
            }
        }
    }

    private static int signBit(DType dtype) {
        return dtype.byteSize() == 1 ? 0x80 : 0x8000;
    }

    @Test
    void float16MatchesTheJdkConversion() {
        for (float value : sampleFloats()) {
            if (!Float.isNaN(value)) {
                assertEquals(Float.floatToFloat16(value) & 0xFFFF, NarrowFloat.FLOAT16.encode(value), () -> "value " + value);
            }
        }
    }

    @Test
    void bfloat16MatchesRoundingTheUpperHalfOfTheFloat() {
        for (float value : sampleFloats()) {
            if (!Float.isNaN(value)) {
                int bits = Float.floatToRawIntBits(value);
                int expected = (bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16; // PyTorch's round_to_nearest_even
                assertEquals(expected, NarrowFloat.BFLOAT16.encode(value), () -> "value " + value);
            }
        }
    }

    /** Each float8 format against a search of its finite values: every midpoint (a tie), around it, random values. */
    @ParameterizedTest
    @EnumSource(value = NarrowFloat.class, names = {"FLOAT8_E4M3FN", "FLOAT8_E5M2"})
    void float8RoundsToTheNearestValueTiesToEven(NarrowFloat format) {
        Float8Reference reference = new Float8Reference(format);
        List<Double> probes = new ArrayList<>();
        for (int i = 0; i + 1 < reference.values.length; i++) {
            double middle = (reference.values[i] + reference.values[i + 1]) / 2;
            probes.addAll(List.of(middle, Math.nextDown(middle), Math.nextUp(middle), reference.values[i]));
        }
        double top = reference.overflowMidpoint();
        probes.addAll(List.of(top, Math.nextDown(top), Math.nextUp(top), 2 * top, 1e300, Double.MIN_VALUE, 0.0));
        for (int i = 0; i < 20_000; i++) {
            probes.add(RANDOM.nextDouble() * 2 * top);
        }
        for (double probe : probes) {
            for (double value : new double[] {probe, -probe}) {
                assertEquals(reference.encode(value), format.encode(value), () -> format + " " + value);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} -> 0x{2}")
    @CsvSource({
        "FLOAT8_E4M3FN, 448, 7E", "FLOAT8_E4M3FN, 464, 7E", "FLOAT8_E4M3FN, 465, 7F", "FLOAT8_E4M3FN, 1e9, 7F",
        "FLOAT8_E4M3FN, -Infinity, FF", "FLOAT8_E4M3FN, 0x1p-10, 00", "FLOAT8_E4M3FN, 0x1.8p-9, 02",
        "FLOAT8_E5M2, 57344, 7B", "FLOAT8_E5M2, 61439, 7B", "FLOAT8_E5M2, 61440, 7C", "FLOAT8_E5M2, NaN, 7F",
        "FLOAT16, 65519, 7BFF", "FLOAT16, 65520, 7C00", "FLOAT16, -0.0, 8000", "FLOAT16, 0x1p-25, 0000",
        "BFLOAT16, 1.00390625, 3F80", "BFLOAT16, 1.01171875, 3F82", "BFLOAT16, NaN, 7FC0",
    })
    void boundariesAsPyTorchHasThem(NarrowFloat format, double value, String hexBits) {
        assertEquals(Integer.parseInt(hexBits, 16), format.encode(value));
    }

    @Test
    void roundsOnceFromADouble() {
        // 1 + 2^-8 + 2^-30 is above the bfloat16 midpoint between 1 and 1 + 2^-7; rounded to a float first, it
        // would become the midpoint itself and round down to 1.
        double justAboveTheMidpoint = 1 + 0x1p-8 + 0x1p-30;
        assertEquals(0x3F81, NarrowFloat.BFLOAT16.encode(justAboveTheMidpoint));
        assertEquals(0x3F80, NarrowFloat.BFLOAT16.encode((float) justAboveTheMidpoint));
    }

    /** Edge values, every exponent's extremes, and random bit patterns. */
    private static List<Float> sampleFloats() {
        List<Float> values = new ArrayList<>();
        for (int exponent = 0; exponent < 256; exponent++) {
            for (int mantissa : new int[] {0, 1, 0x7FFF, 0x8000, 0x8001, 0x17FFF, 0x18000, 0x7FFFFF, 0x1000, 0xFFF, 0x1001}) {
                int bits = exponent << 23 | mantissa;
                values.add(Float.intBitsToFloat(bits));
                values.add(Float.intBitsToFloat(bits | 0x8000_0000));
            }
        }
        for (int i = 0; i < 200_000; i++) {
            values.add(Float.intBitsToFloat(RANDOM.nextInt()));
        }
        return values;
    }

    /** Nearest-value search over a float8 format's finite non-negative values, as decoded by {@link Elements}. */
    private static final class Float8Reference {
        final double[] values;
        final int[] codes;
        final NarrowFloat format;

        Float8Reference(NarrowFloat format) {
            this.format = format;
            List<Integer> finite = new ArrayList<>();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment bytes = arena.allocate(128);
                for (int code = 0; code < 128; code++) {
                    bytes.set(ValueLayout.JAVA_BYTE, code, (byte) code);
                }
                HostTensorView view = HostTensorView.of(new TensorSpec("positive", dtypeOf(format), 128), bytes);
                for (int code = 0; code < 128; code++) {
                    if (Float.isFinite(view.getFloat(code))) {
                        finite.add(code);
                    }
                }
                codes = finite.stream().mapToInt(Integer::intValue).toArray();
                values = finite.stream().mapToDouble(view::getFloat).toArray();
            }
            for (int i = 1; i < values.length; i++) {
                assertTrue(values[i] > values[i - 1], "positive codes increase");
            }
        }

        /** Halfway between the largest finite value and the next one the exponent range would give. */
        double overflowMidpoint() {
            int last = values.length - 1;
            return values[last] + (values[last] - values[last - 1]) / 2;
        }

        int encode(double value) {
            int sign = Math.copySign(1.0, value) < 0 ? 0x80 : 0;
            double magnitude = Math.abs(value);
            if (Double.isNaN(value)) {
                return sign | format.encode(Double.NaN);
            }
            int last = values.length - 1;
            if (magnitude > overflowMidpoint() || magnitude == overflowMidpoint() && (codes[last] & 1) == 1) {
                return sign | format.encode(Double.POSITIVE_INFINITY);
            }
            if (magnitude >= values[last]) {
                return sign | codes[last];
            }
            int i = 0;
            while (values[i + 1] <= magnitude) {
                i++;
            }
            double twice = 2 * magnitude;
            double sum = values[i] + values[i + 1];
            int nearest = twice < sum ? i : twice > sum ? i + 1 : (codes[i] & 1) == 0 ? i : i + 1;
            return sign | codes[nearest];
        }
    }
}
