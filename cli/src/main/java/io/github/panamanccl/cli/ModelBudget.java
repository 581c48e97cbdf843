package io.github.panamanccl.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.stream.Stream;

/**
 * How many bytes of model the demo allocates per rank when {@code --scale auto}: a quarter of the memory
 * available now, shared by every rank's copy, and at most {@value #AUTO_MAX_MIB} MiB so the demo stays a demo.
 */
final class ModelBudget {
    static final long AUTO_MAX_MIB = 512;
    private static final long FALLBACK_AVAILABLE_BYTES = 2L << 30;

    private ModelBudget() {
    }

    static long autoBytesPerRank(int ranks) {
        long available = availableMemory().orElse(FALLBACK_AVAILABLE_BYTES);
        return Math.min(AUTO_MAX_MIB << 20, available / 4 / ranks);
    }

    /** MemAvailable from /proc/meminfo (Linux: where CUDA and NCCL run), empty when unreadable. */
    static OptionalLong availableMemory() {
        Path meminfo = Path.of("/proc/meminfo");
        if (!Files.isReadable(meminfo)) {
            return OptionalLong.empty();
        }
        try (Stream<String> lines = Files.lines(meminfo)) {
            return lines.filter(line -> line.startsWith("MemAvailable:"))
                    .map(line -> line.replaceAll("[^0-9]", ""))
                    .filter(digits -> !digits.isEmpty())
                    .mapToLong(kib -> Long.parseLong(kib) * 1024)
                    .findFirst();
        } catch (IOException | UncheckedIOException | NumberFormatException e) {
            return OptionalLong.empty();
        }
    }
}
