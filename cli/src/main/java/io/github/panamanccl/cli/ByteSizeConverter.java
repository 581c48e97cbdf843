package io.github.panamanccl.cli;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.math.RoundingMode;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * Parses byte sizes exactly: a number of bytes ({@code 4096}, {@code 4096B}), binary units ({@code 512KiB},
 * {@code 64MiB}, {@code 1.5GiB}, {@code 1.00 TiB}: powers of 1024) or decimal ones ({@code 64MB}, {@code 2GB}: powers
 * of 1000), case-insensitive, with or without a space, so whatever {@link #format} prints is accepted. A fraction
 * of a byte is rounded to the nearest byte. A bare {@code K}, {@code M}, {@code G}... is refused as ambiguous.
 */
final class ByteSizeConverter implements ITypeConverter<Long> {
    private static final Pattern SIZE = Pattern.compile("(\\d{1,30}(?:\\.\\d{1,30})?)\\s*([a-z]*)");
    private static final String[] BINARY = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    private static final Map<String, BigInteger> UNITS = units();
    private static final String EXAMPLES = "examples: 4096, 512KiB, 64MiB, 1.5GiB (binary), 64MB, 2GB (decimal)";

    @Override
    public Long convert(String value) {
        return parse(value);
    }

    static long parse(String value) {
        Matcher matcher = SIZE.matcher(value.trim().toLowerCase(Locale.ROOT));
        if (!matcher.matches()) {
            throw new TypeConversionException("'" + value + "' is not a byte size (" + EXAMPLES + ")");
        }
        String unit = matcher.group(2);
        BigInteger multiplier = UNITS.get(unit);
        if (multiplier == null) {
            throw new TypeConversionException(unit.length() == 1 && "kmgtpe".contains(unit)
                    ? "'" + value + "' is ambiguous: write " + matcher.group(1) + unit.toUpperCase(Locale.ROOT)
                            + "iB (powers of 1024) or " + matcher.group(1) + unit.toUpperCase(Locale.ROOT) + "B (powers of 1000)"
                    : "'" + value + "' has an unknown unit '" + unit + "' (" + EXAMPLES + ")");
        }
        BigDecimal bytes = new BigDecimal(matcher.group(1)).multiply(new BigDecimal(multiplier))
                .setScale(0, RoundingMode.HALF_UP);
        try {
            return bytes.longValueExact();
        } catch (ArithmeticException tooLarge) {
            throw new TypeConversionException("'" + value + "' is too large a byte size (at most " + Long.MAX_VALUE
                    + " bytes)");
        }
    }

    private static Map<String, BigInteger> units() {
        Map<String, BigInteger> units = new HashMap<>();
        units.put("", BigInteger.ONE);
        units.put("b", BigInteger.ONE);
        for (int i = 0; i < BINARY.length; i++) {
            units.put(BINARY[i].toLowerCase(Locale.ROOT), BigInteger.ONE.shiftLeft(10 * (i + 1)));
            units.put(BINARY[i].substring(0, 1).toLowerCase(Locale.ROOT) + "b", BigInteger.TEN.pow(3 * (i + 1)));
        }
        return Map.copyOf(units);
    }

    /** Formats a byte count with the largest binary unit that keeps it at least 1, e.g. 1.50 GiB. */
    static String format(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < BINARY.length - 1) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, "%.2f %s", value, BINARY[unit]);
    }
}
