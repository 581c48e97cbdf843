package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The info text on this machine: real runtime without a driver, fake NCCL. */
class SystemReportTest {
    @Test
    void reportsJdkLibrariesAndWhyThereAreNoDevices() {
        assumeTrue(Cuda.driverVersion() == 0, "covers the machine without a CUDA driver");

        String report = SystemReport.text();

        assertTrue(report.contains("JDK: " + Runtime.version()), report);
        assertTrue(report.contains("Native access: enabled"), report);
        assertTrue(report.contains("NCCL (libnccl.so.2): " + FakeNative.ncclLibrary()), report);
        assertTrue(report.contains("version: 2.30.7 (code 23007)"), report);
        assertTrue(report.contains("CUDA runtime (libcudart.so.13): "), report);
        assertTrue(report.contains("runtime 13.0 (13000), driver supports nothing (no driver installed)"), report);
        assertTrue(report.contains("Devices: 0 (cudaGetDeviceCount failed: cudaErrorInsufficientDriver (35)"), report);
    }
}
