package io.github.panamanccl.bucket;

/**
 * The floating-point formats narrower than float32 that tensors use, encoded from a double with a single rounding
 * to the nearest representable value, ties to even (so from a float too, which widens to double exactly). Out of
 * range: to infinity, except float8_e4m3fn, which has none and becomes NaN, as in PyTorch (no saturation). NaN
 * becomes the format's quiet NaN, keeping its sign. Decoding is {@link Elements}'s.
 */
enum NarrowFloat {
    /** IEEE binary16: 5 exponent bits, 10 mantissa bits. */
    FLOAT16(5, 10, true, 0x7E00),
    /** bfloat16: the upper half of a float32, 8 exponent bits, 7 mantissa bits. */
    BFLOAT16(8, 7, true, 0x7FC0),
    /** float8_e4m3fn: bias 7, 3 mantissa bits, no infinities, NaN only at S.1111.111. */
    FLOAT8_E4M3FN(4, 3, false, 0x7F),
    /** float8_e5m2: the upper byte of a binary16. */
    FLOAT8_E5M2(5, 2, true, 0x7F);

    private final int mantissaBits;
    /** Unbiased exponent of the smallest normal value (subnormals share its spacing). */
    private final int minExponent;
    private final int signBit;
    /** Bits of the largest finite magnitude. */
    private final int maxFinite;
    /** Bits of the magnitude an overflow gives: infinity, or NaN for a format without one. */
    private final int overflow;
    private final int nan;

    NarrowFloat(int exponentBits, int mantissaBits, boolean infinities, int nan) {
        int bias = (1 << (exponentBits - 1)) - 1;
        int exponentMask = ((1 << exponentBits) - 1) << mantissaBits;
        this.mantissaBits = mantissaBits;
        this.minExponent = 1 - bias;
        this.signBit = 1 << (exponentBits + mantissaBits);
        this.maxFinite = infinities ? exponentMask - 1 : exponentMask | ((1 << mantissaBits) - 2);
        this.overflow = infinities ? exponentMask : nan;
        this.nan = nan;
    }

    /** The bits of {@code value} in this format, rounded once, to nearest, ties to even. */
    int encode(double value) {
        int sign = Double.doubleToRawLongBits(value) < 0 ? signBit : 0;
        if (Double.isNaN(value)) {
            return sign | nan;
        }
        double magnitude = Math.abs(value);
        if (Double.isInfinite(magnitude)) {
            return sign | overflow;
        }
        int exponent = Math.max(Math.getExponent(magnitude), minExponent);
        // Multiples of the spacing at this exponent; dividing by a power of two is exact, rint ties to even.
        long units = (long) Math.rint(Math.scalb(magnitude, mantissaBits - exponent));
        long implicitOne = 1L << mantissaBits;
        if (units < implicitOne) {
            return sign | (int) units; // subnormal or zero (only at the smallest exponent)
        }
        if (units == implicitOne << 1) { // rounded up to the next power of two
            units = implicitOne;
            exponent++;
        }
        long bits = ((long) (exponent - minExponent + 1) << mantissaBits) | (units - implicitOne);
        return sign | (bits > maxFinite ? overflow : (int) bits);
    }
}
