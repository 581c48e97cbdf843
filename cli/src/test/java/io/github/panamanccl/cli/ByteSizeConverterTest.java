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
    @CsvSource({"4096, 4096", "4096B, 4096", "512KiB, 524288", "64MiB, 67108864", "64m, 67108864",
        "1GiB, 1073741824", "2 GiB, 2147483648", "3G, 3221225472"})
    void parsesBinaryUnits(String text, long bytes) {
        assertEquals(bytes, ByteSizeConverter.parse(text));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "MiB", "-1", "1.5GiB", "12XB", "1TiB", "99999999999999999999"})
    void rejectsWhatIsNotASize(String text) {
        TypeConversionException problem = assertThrows(TypeConversionException.class, () -> ByteSizeConverter.parse(text));
        assertTrue(problem.getMessage().contains("'" + text + "'"), problem.getMessage());
    }

    @Test
    void rejectsSizesThatOverflow() {
        assertThrows(TypeConversionException.class, () -> ByteSizeConverter.parse("9999999999999GiB"));
    }

    @Test
    void formatsWithTheLargestFittingUnit() {
        assertEquals("1000 B", ByteSizeConverter.format(1000));
        assertEquals("1.00 KiB", ByteSizeConverter.format(1024));
        assertEquals("1.50 GiB", ByteSizeConverter.format(3L << 29));
    }
}
