package io.github.panamanccl;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The real libcudart.so.13 on a machine without a driver: versions work, everything that needs a device
 * fails with cudaErrorInsufficientDriver, and the errors carry the runtime's own names and texts.
 */
class CudaRuntimeWithoutDriverTest {
    private static final int INSUFFICIENT_DRIVER = 35;

    @BeforeAll
    static void onlyWithoutDriver() {
        LibraryStatus status = NativeLibraries.status(NativeLibrary.CUDART);
        assumeTrue(status.available(), "libcudart.so.13 was not found, so the real runtime cannot be tested:\n"
                + status.cause());
        assumeTrue(Cuda.driverVersion() == 0, "a CUDA driver is installed; these tests cover the no-driver path");
    }

    @Test
    void runtimeVersionMatchesTheSonameMajor() {
        String soname = NativeLibrary.CUDART.soname();
        int sonameMajor = Integer.parseInt(soname.substring(soname.lastIndexOf('.') + 1));

        int version = Cuda.runtimeVersion();

        assertEquals(sonameMajor, version / 1000, "runtime version " + version + " of " + soname);
    }

    @Test
    void deviceCountFailsWithInsufficientDriver() {
        CudaException failure = assertThrows(CudaException.class, Cuda::deviceCount);

        assertEquals("cudaGetDeviceCount", failure.call());
        assertEquals(INSUFFICIENT_DRIVER, failure.code());
        assertEquals("cudaErrorInsufficientDriver", failure.errorName());
        assertEquals("CUDA driver version is insufficient for CUDA runtime version", failure.errorMessage());
        assertEquals("cudaGetDeviceCount failed: cudaErrorInsufficientDriver (35): "
                + "CUDA driver version is insufficient for CUDA runtime version", failure.getMessage());
    }

    @Test
    void probeReportsNoDevicesWithTheCause() {
        Cuda.DeviceProbe probe = Cuda.probeDevices();

        assertEquals(0, probe.count());
        CudaException cause = assertInstanceOf(CudaException.class, probe.cause().orElseThrow());
        assertEquals(INSUFFICIENT_DRIVER, cause.code());
    }

    @Test
    void errorNamesAndTextsComeFromTheRuntime() {
        assertEquals("cudaSuccess", NativeResults.cudaErrorName(0));
        assertEquals("no error", NativeResults.cudaErrorString(0));
        CudaException invalidValue = NativeResults.cudaException("cudaMemcpy", 1);
        assertEquals("cudaErrorInvalidValue", invalidValue.errorName());
        assertEquals("invalid argument", invalidValue.errorMessage());
        assertEquals("cudaErrorMemoryAllocation", NativeResults.cudaErrorName(2));
        assertEquals("out of memory", NativeResults.cudaErrorString(2));
        assertEquals("cudaErrorNotReady", NativeResults.cudaErrorName(600));
        assertEquals("device not ready", NativeResults.cudaErrorString(600));
        assertEquals("cudaErrorNoDevice", NativeResults.cudaErrorName(100));

        CudaException unknown = NativeResults.cudaException("cudaSomething", 12345);
        assertEquals(12345, unknown.code());
        assertEquals("unrecognized error code", unknown.errorName());
        assertEquals("unrecognized error code", unknown.errorMessage());
    }

    @Test
    void allocationsFailWithInsufficientDriver() {
        CudaException device = assertThrows(CudaException.class, () -> DeviceBuffer.allocate(1024));
        assertEquals("cudaMalloc", device.call());
        assertEquals(INSUFFICIENT_DRIVER, device.code());

        CudaException pinned = assertThrows(CudaException.class, () -> PinnedHostBuffer.allocate(1024));
        assertEquals("cudaMallocHost", pinned.call());
        assertEquals(INSUFFICIENT_DRIVER, pinned.code());

        CudaException stream = assertThrows(CudaException.class, CudaStream::create);
        assertEquals("cudaStreamCreateWithFlags", stream.call());

        CudaException event = assertThrows(CudaException.class, () -> CudaEvent.create(true));
        assertEquals("cudaEventCreateWithFlags", event.call());
    }

    @Test
    void invalidSizesAreRejectedBeforeAnyNativeCall() {
        IllegalArgumentException zero = assertThrows(IllegalArgumentException.class, () -> DeviceBuffer.allocate(0));
        assertTrue(zero.getMessage().contains("bytes") && zero.getMessage().contains("0"), zero.getMessage());
        assertThrows(IllegalArgumentException.class, () -> PinnedHostBuffer.allocate(-1));
        assertThrows(IllegalArgumentException.class, () -> Cuda.setDevice(-1));
        assertThrows(IllegalArgumentException.class, () -> Cuda.memcpy(0, 16, 8));
    }

    @Test
    void setDeviceNamesTheCallThatFailed() {
        CudaException failure = assertThrows(CudaException.class, () -> Cuda.setDevice(0));

        assertEquals("cudaSetDevice", failure.call());
        assertEquals(INSUFFICIENT_DRIVER, failure.code());
        assertTrue(failure.getMessage().startsWith("cudaSetDevice failed: cudaErrorInsufficientDriver (35)"),
                failure.getMessage());
    }
}
