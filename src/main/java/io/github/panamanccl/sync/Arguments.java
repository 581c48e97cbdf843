package io.github.panamanccl.sync;

import java.time.Duration;
import java.util.Objects;

/** Argument checks shared by the sender's and receiver's builders; errors name the argument and its value. */
final class Arguments {
    private Arguments() {
    }

    static Duration positive(String name, Duration value) {
        Objects.requireNonNull(value, name);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException(name + " must be positive: " + value);
        }
        return value;
    }

    static int atLeast(String name, int value, int minimum) {
        return (int) atLeast(name, (long) value, minimum);
    }

    static long atLeast(String name, long value, long minimum) {
        if (value < minimum) {
            throw new IllegalArgumentException(name + " must be at least " + minimum + ": " + value);
        }
        return value;
    }
}
