package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The info text: on this machine (real runtime without a driver, fake NCCL), and on one without the libraries. */
class SystemReportTest {
    @Test
    void reportsJdkLibrariesAndWhyThereAreNoDevices() {
        LibraryStatus cudaRuntime = NativeLibraries.status(NativeLibrary.CUDART);
        assumeTrue(cudaRuntime.available(), "libcudart.so.13 was not found, so there is no runtime to report on:\n"
                + cudaRuntime.cause());
        assumeTrue(Cuda.driverVersion() == 0, "covers the machine without a CUDA driver");
        int runtime = Cuda.runtimeVersion();

        String report = SystemReport.text();

        assertTrue(report.contains("JDK: " + Runtime.version()), report);
        assertTrue(report.contains("Native access: enabled"), report);
        assertTrue(report.contains("NCCL (libnccl.so.2): " + FakeNative.ncclLibrary()), report);
        assertTrue(report.contains("version: 2.30.7 (code 23007)"), report);
        assertTrue(report.contains("CUDA runtime (libcudart.so.13): " + cudaRuntime.path().orElseThrow()), report);
        assertTrue(report.contains("runtime " + runtime / 1000 + "." + runtime % 1000 / 10 + " (" + runtime
                + "), driver supports nothing (no driver installed)"), report);
        assertTrue(report.contains("Devices: 0 (cudaGetDeviceCount failed: cudaErrorInsufficientDriver (35)"), report);
    }

    @Test
    void missingLibrariesAreReportedWithTheirReasonsWithoutThrowing() {
        String cudaCause = "CUDA runtime (libcudart.so.13) is not available. Tried, in order:\n"
                + "  1. system property panamanccl.cudart.path: /nowhere/libcudart.so.13: absent";
        String ncclCause = "NCCL (libnccl.so.2) is not available. Tried, in order:\n"
                + "  1. dynamic linker search: libnccl.so.2: failed to load: not found";

        String report = SystemReport.text(library -> new LibraryStatus(false, Optional.empty(), List.of(),
                library == NativeLibrary.CUDART ? cudaCause : ncclCause));

        String nl = System.lineSeparator();
        assertTrue(report.contains("CUDA runtime (libcudart.so.13): not available" + nl
                + "  CUDA runtime (libcudart.so.13) is not available. Tried, in order:" + nl
                + "    1. system property panamanccl.cudart.path: /nowhere/libcudart.so.13: absent" + nl), report);
        assertTrue(report.contains("NCCL (libnccl.so.2): not available" + nl
                + "  NCCL (libnccl.so.2) is not available. Tried, in order:" + nl
                + "    1. dynamic linker search: libnccl.so.2: failed to load: not found" + nl), report);
        assertTrue(report.contains("Devices: 0 (the CUDA runtime is not available, see above)"), report);
        assertFalse(report.contains("version:"), report);
    }
}
