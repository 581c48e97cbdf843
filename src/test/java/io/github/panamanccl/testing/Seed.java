package io.github.panamanccl.testing;

import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * The seed of one property case; everything the case generates comes from {@link #random()}, so the seed alone
 * replays it. The draws lean towards the ends of their ranges, where the bugs are.
 */
public record Seed(long value) {
    /** A fresh generator: the same draws in the same order on every call. */
    public SplittableRandom random() {
        return new SplittableRandom(value);
    }

    /** {@code "0x"} and 16 hex digits, as {@link #parse} reads it. */
    @Override
    public String toString() {
        return String.format("0x%016x", value);
    }

    /** Reads {@code 0x}-prefixed hex (as printed) or a decimal long. */
    public static Seed parse(String text) {
        String trimmed = text.strip();
        try {
            return new Seed(trimmed.startsWith("0x") ? Long.parseUnsignedLong(trimmed.substring(2), 16)
                    : Long.parseLong(trimmed));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("seed '" + text + "' is neither 0x<hex> nor a decimal long", e);
        }
    }

    /** In {@code [min, max]}; each end one time in ten. */
    public static int intIn(RandomGenerator random, int min, int max) {
        return (int) longIn(random, min, max);
    }

    /** In {@code [min, max]}; each end one time in ten. */
    public static long longIn(RandomGenerator random, long min, long max) {
        return switch (random.nextInt(10)) {
            case 0 -> min;
            case 1 -> max;
            default -> random.nextLong(min, max + 1);
        };
    }

    /** One of {@code values}, uniformly. */
    @SafeVarargs
    public static <T> T oneOf(RandomGenerator random, T... values) {
        return values[random.nextInt(values.length)];
    }
}
