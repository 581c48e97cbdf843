package io.github.panamanccl.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** Builds (once per fork) and locates the C baselines of bench/native with bench/native/build.sh. */
final class BenchNative {
    private static final Path SCRIPT = Path.of("bench", "native", "build.sh");
    private static final Path OUTPUT = Path.of("bench", "target", "bench-native");

    private BenchNative() {
    }

    /** Path of a built artefact, building bench/native first if it is missing. Run from the repository root. */
    static synchronized Path artefact(String name) {
        Path artefact = OUTPUT.resolve(name).toAbsolutePath();
        if (!Files.isRegularFile(artefact)) {
            build();
        }
        if (!Files.isRegularFile(artefact)) {
            throw new IllegalStateException(SCRIPT + " did not produce " + artefact);
        }
        return artefact;
    }

    private static void build() {
        if (!Files.isRegularFile(SCRIPT)) {
            throw new IllegalStateException("cannot find " + SCRIPT.toAbsolutePath()
                    + ": run the benchmarks from the repository root");
        }
        try {
            Process process = new ProcessBuilder("bash", SCRIPT.toString(), OUTPUT.toString())
                    .inheritIO()
                    .start();
            if (!process.waitFor(2, TimeUnit.MINUTES) || process.exitValue() != 0) {
                process.destroyForcibly();
                throw new IllegalStateException(SCRIPT + " failed (is gcc installed?)");
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + SCRIPT + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while building " + SCRIPT, e);
        }
    }
}
