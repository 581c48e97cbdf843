package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import picocli.CommandLine.TypeConversionException;

class ByteSizeConverterTest {
    @ParameterizedTest(name = "{0} = {1}")
    @CsvSource({"4096, 4096", "4096B, 4096", "512KiB, 524288", "64MiB, 67108864", "64mib, 67108864",
        "1GiB, 1073741824", "2 GiB, 2147483648", "1.5GiB, 1610612736", "1.00 TiB, 1099511627776", "512.00 KiB, 524288",
        "1EiB, 1152921504606846976", "0.5KiB, 512"})
    void parsesBinaryUnitsExactly(String text, long bytes) {
        assertEquals(bytes, ByteSizeConverter.parse(text));
    }

    @ParameterizedTest(name = "{0} = {1}")
    @CsvSource({"64MB, 64000000", "64mb, 64000000", "1kB, 1000", "2 GB, 2000000000", "1.5TB, 1500000000000", "9EB, 9000000000000000000"})
    void parsesDecimalUnitsExactly(String text, long bytes) {
        assertEquals(bytes, ByteSizeConverter.parse(text));
    }

    @Test
    void acceptsEverythingFormatPrintsAndRoundsFractionsToTheNearestByte() {
        for (long bytes : new long[] {0, 1000, 1024, 4097, 3L << 29, 1L << 40, 30_576_476, Long.MAX_VALUE / 2}) {
            String printed = ByteSizeConverter.format(bytes);
            long parsed = ByteSizeConverter.parse(printed);
            assertTrue(Math.abs(parsed - bytes) <= bytes / 200, printed + " read back as " + parsed + ", was " + bytes);
        }
        assertEquals(314573, ByteSizeConverter.parse("0.3MiB"), "314572.8 bytes rounds to 314573");
    }

    @ParameterizedTest
    @ValueSource(strings = {"64M", "64m", "1G", "512K", "3T"})
    void aBareUnitLetterIsAmbiguousAndNamesBothReadings(String text) {
        TypeConversionException problem = assertThrows(TypeConversionException.class, () -> ByteSizeConverter.parse(text));

        String unit = text.substring(text.length() - 1).toUpperCase(java.util.Locale.ROOT);
        String number = text.substring(0, text.length() - 1);
        assertEquals("'" + text + "' is ambiguous: write " + number + unit + "iB (powers of 1024) or " + number + unit
                + "B (powers of 1000)", problem.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "MiB", "-1", "12XB", "1.5.0GiB", "1 0MiB", "0x10", "99999999999999999999", "9EiB"})
    void rejectsWhatIsNotASizeNamingIt(String text) {
        TypeConversionException problem = assertThrows(TypeConversionException.class, () -> ByteSizeConverter.parse(text));
        assertTrue(problem.getMessage().startsWith("'" + text + "' "), problem.getMessage());
    }

    @Test
    void formatsWithTheLargestFittingBinaryUnit() {
        assertEquals("1000 B", ByteSizeConverter.format(1000));
        assertEquals("1.00 KiB", ByteSizeConverter.format(1024));
        assertEquals("1.50 GiB", ByteSizeConverter.format(3L << 29));
        assertEquals("1.00 TiB", ByteSizeConverter.format(1L << 40));
    }
}
