package io.github.panamanccl;

import java.util.Locale;
import java.util.function.Function;

/**
 * The text of the {@code info} command: JDK, each native library (where it was loaded from and its version,
 * or every place tried and why it failed), and the CUDA devices (or why none are visible).
 * Building it never throws; every failure becomes part of the text.
 */
public final class SystemReport {
    private static final String NL = System.lineSeparator();

    private SystemReport() {
    }

    /** Builds the report, loading the libraries if this JVM has not yet. */
    public static String text() {
        return text(NativeLibraries::status);
    }

    /**
     * The report for the given library statuses; a library reported unavailable is never called, so tests can
     * render the machine without libraries.
     */
    static String text(Function<NativeLibrary, LibraryStatus> statusOf) {
        StringBuilder report = new StringBuilder("panama-nccl system report").append(NL);
        report.append("JDK: ").append(Runtime.version()).append(" (").append(System.getProperty("java.vendor"))
                .append("), ").append(System.getProperty("os.name")).append(' ').append(System.getProperty("os.arch"))
                .append(NL);
        report.append("Native access: ").append(NativeAccess.enabled() ? "enabled" : "NOT enabled").append(" for ")
                .append(NativeAccess.location()).append(NativeAccess.enabled() ? "" : " (run java with " + NativeAccess.flag() + ")")
                .append(NL);
        boolean cudaRuntime = library(report, NativeLibrary.CUDART, statusOf.apply(NativeLibrary.CUDART));
        library(report, NativeLibrary.NCCL, statusOf.apply(NativeLibrary.NCCL));
        if (cudaRuntime) {
            devices(report);
        } else {
            report.append("Devices: 0 (the CUDA runtime is not available, see above)").append(NL);
        }
        return report.toString();
    }

    /** Appends the library's section; returns whether it is available. */
    private static boolean library(StringBuilder report, NativeLibrary library, LibraryStatus status) {
        report.append(library.displayName()).append(" (").append(library.soname()).append("): ");
        if (!status.available()) {
            report.append("not available").append(NL).append(indent(status.cause())).append(NL);
            return false;
        }
        report.append(status.path().orElseThrow()).append(NL).append("  version: ");
        try {
            report.append(switch (library) {
                case CUDART -> "runtime " + cudaVersion(Cuda.runtimeVersion()) + ", driver supports "
                        + driverVersion(Cuda.driverVersion());
                case NCCL -> {
                    NcclVersion version = Nccl.version();
                    yield version + " (code " + version.code() + ")";
                }
            });
        } catch (RuntimeException | LinkageError failure) {
            // e.g. a file that loaded but lacks the symbols (a wrong library named by path): report, don't throw
            report.append("unknown: ").append(describe(failure));
        }
        report.append(NL);
        return true;
    }

    private static void devices(StringBuilder report) {
        Cuda.DeviceProbe probe = Cuda.probeDevices();
        report.append("Devices: ").append(probe.count());
        if (probe.cause().isPresent()) {
            report.append(" (").append(probe.cause().get().getMessage()).append(')').append(NL);
            return;
        }
        report.append(NL);
        Integer previous = null;
        try {
            previous = Cuda.currentDevice();
            for (int device = 0; device < probe.count(); device++) {
                report.append("  device ").append(device).append(": ");
                try {
                    Cuda.setDevice(device);
                    Cuda.MemInfo memory = Cuda.memInfo();
                    report.append(Cuda.pciBusId(device)).append(", ").append(gib(memory.total())).append(" total, ")
                            .append(gib(memory.free())).append(" free");
                } catch (PanamaNcclException failure) {
                    report.append("unreadable: ").append(failure.getMessage());
                }
                report.append(NL);
            }
        } catch (PanamaNcclException failure) {
            report.append("  unreadable: ").append(failure.getMessage()).append(NL);
        } finally {
            if (previous != null) {
                restoreDevice(previous, report);
            }
        }
    }

    private static void restoreDevice(int device, StringBuilder report) {
        try {
            Cuda.setDevice(device);
        } catch (PanamaNcclException failure) {
            report.append("  (could not make device ").append(device).append(" current again: ")
                    .append(failure.getMessage()).append(')').append(NL);
        }
    }

    /** CUDA encodes 13.0 as 13000 (1000 * major + 10 * minor). */
    private static String cudaVersion(int code) {
        return code / 1000 + "." + code % 1000 / 10 + " (" + code + ")";
    }

    private static String driverVersion(int code) {
        return code == 0 ? "nothing (no driver installed)" : "CUDA " + cudaVersion(code);
    }

    /** Our exceptions' messages are complete; anything else also needs its type to make sense. */
    private static String describe(Throwable failure) {
        return failure instanceof PanamaNcclException ? failure.getMessage() : failure.toString();
    }

    private static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
    }

    private static String indent(String text) {
        return text.lines().map(line -> "  " + line).reduce((a, b) -> a + NL + b).orElse("");
    }
}
