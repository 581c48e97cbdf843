package io.github.panamanccl.sync;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Figures the sync tests measure, appended to target/sync-processes/measurements.txt (not to the test log). */
final class Measurements {
    private Measurements() {
    }

    static void report(String test, String text) throws IOException {
        Path file = Path.of("target", "sync-processes", "measurements.txt");
        Files.createDirectories(file.getParent());
        Files.writeString(file, test + ": " + text + System.lineSeparator(), StandardOpenOption.CREATE,
                StandardOpenOption.APPEND);
    }
}
