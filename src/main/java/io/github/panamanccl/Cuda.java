package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;
import io.github.panamanccl.internal.cuda.cudaMemcpyAttributes;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Device-wide CUDA runtime calls. Every method loads the CUDA runtime on first use
 * ({@link LibraryUnavailableException} when it is missing) and throws {@link CudaException} when a call fails.
 */
public final class Cuda {
    /** cudaDeviceGetPCIBusId needs 13 bytes ("0000:00:00.0"); NVIDIA's samples pass more. */
    private static final int PCI_BUS_ID_LENGTH = (int) OutSlot.BYTES;

    private Cuda() {
    }

    /** Free and total device memory of the current device, in bytes. */
    public record MemInfo(long free, long total) {
    }

    /**
     * How many devices the runtime sees, or why it sees none.
     *
     * @param count how many devices (0 when {@code cause} is present)
     * @param cause why no device could be counted: the CUDA error (e.g. cudaErrorInsufficientDriver when no
     *              driver is installed) or the missing library
     */
    public record DeviceProbe(int count, Optional<PanamaNcclException> cause) {
        /**
         * Checks that the probe has either devices or a cause.
         *
         * @throws IllegalArgumentException for a negative count, or devices together with a cause
         */
        public DeviceProbe {
            Objects.requireNonNull(cause, "cause");
            if (count < 0 || (count > 0 && cause.isPresent())) {
                throw new IllegalArgumentException("a probe has either devices or a cause: " + count + ", " + cause);
            }
        }
    }

    /** Loads the CUDA runtime if needed; every entry point of this package that calls it goes through here. */
    static void ensureRuntime() {
        NativeLibraries.ensureLoaded(NativeLibrary.CUDART);
    }

    /** cudaRuntimeGetVersion, e.g. 13000 for CUDA 13.0. Works without a driver. */
    public static int runtimeVersion() {
        ensureRuntime();
        MemorySegment version = OutSlot.zeroed(JAVA_INT.byteSize());
        NativeResults.checkCuda("cudaRuntimeGetVersion", CudaRuntimeApi.cudaRuntimeGetVersion(version));
        return version.get(JAVA_INT, 0);
    }

    /** cudaDriverGetVersion: the newest CUDA version the driver supports, 0 when no driver is installed. */
    public static int driverVersion() {
        ensureRuntime();
        MemorySegment version = OutSlot.zeroed(JAVA_INT.byteSize());
        NativeResults.checkCuda("cudaDriverGetVersion", CudaRuntimeApi.cudaDriverGetVersion(version));
        return version.get(JAVA_INT, 0);
    }

    /** cudaGetDeviceCount; throws (e.g. cudaErrorInsufficientDriver) when no driver is usable. */
    public static int deviceCount() {
        ensureRuntime();
        // Without a driver the runtime returns an error and leaves the count as it was.
        MemorySegment count = OutSlot.zeroed(JAVA_INT.byteSize());
        NativeResults.checkCuda("cudaGetDeviceCount", CudaRuntimeApi.cudaGetDeviceCount(count));
        return count.get(JAVA_INT, 0);
    }

    /** Counts devices without throwing: 0 and the cause when the library or the driver is missing. */
    public static DeviceProbe probeDevices() {
        try {
            return new DeviceProbe(deviceCount(), Optional.empty());
        } catch (CudaException | LibraryUnavailableException noDevices) {
            return new DeviceProbe(0, Optional.of(noDevices));
        }
    }

    /** cudaSetDevice: makes {@code device} current for this thread. */
    public static void setDevice(int device) {
        requireDeviceOrdinal(device);
        ensureRuntime();
        NativeResults.checkCuda("cudaSetDevice", CudaRuntimeApi.cudaSetDevice(device));
    }

    /** cudaGetDevice: this thread's current device. */
    public static int currentDevice() {
        ensureRuntime();
        MemorySegment device = OutSlot.zeroed(JAVA_INT.byteSize());
        NativeResults.checkCuda("cudaGetDevice", CudaRuntimeApi.cudaGetDevice(device));
        return device.get(JAVA_INT, 0);
    }

    /** cudaDeviceGetPCIBusId, e.g. {@code 0000:1b:00.0}. */
    public static String pciBusId(int device) {
        requireDeviceOrdinal(device);
        ensureRuntime();
        MemorySegment busId = OutSlot.zeroed(PCI_BUS_ID_LENGTH);
        NativeResults.checkCuda("cudaDeviceGetPCIBusId",
                CudaRuntimeApi.cudaDeviceGetPCIBusId(busId, PCI_BUS_ID_LENGTH, device));
        return busId.getString(0);
    }

    /** cudaMemGetInfo for the current device. */
    public static MemInfo memInfo() {
        ensureRuntime();
        MemorySegment slot = OutSlot.zeroed(2 * JAVA_LONG.byteSize());
        MemorySegment free = slot.asSlice(0, JAVA_LONG);
        MemorySegment total = slot.asSlice(JAVA_LONG.byteSize(), JAVA_LONG);
        NativeResults.checkCuda("cudaMemGetInfo", CudaRuntimeApi.cudaMemGetInfo(free, total));
        return new MemInfo(free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0));
    }

    /** cudaDeviceSynchronize: waits for all work on the current device. */
    public static void synchronize() {
        ensureRuntime();
        NativeResults.checkCuda("cudaDeviceSynchronize", CudaRuntimeApi.cudaDeviceSynchronize());
    }

    /**
     * Copies {@code count} regions with exactly one cudaMemcpyBatchAsync call, ordered on {@code stream}
     * (source reads are stream-ordered). The copies run asynchronously: sources and destinations must stay
     * valid until the stream has passed this point. {@code count == 0} makes no call.
     *
     * @param dstAddresses destination addresses (device or host), at least {@code count} of them
     * @param srcAddresses source addresses, at least {@code count} of them
     * @param sizes        byte counts, at least {@code count} of them, none negative
     * @param stream       a stream from {@link CudaStream#create()} (CUDA rejects the legacy default stream)
     */
    public static void memcpyBatchAsync(long[] dstAddresses, long[] srcAddresses, long[] sizes, int count,
                                        CudaStream stream) {
        Objects.requireNonNull(dstAddresses, "dstAddresses");
        Objects.requireNonNull(srcAddresses, "srcAddresses");
        Objects.requireNonNull(sizes, "sizes");
        Objects.requireNonNull(stream, "stream");
        if (count < 0 || count > dstAddresses.length || count > srcAddresses.length || count > sizes.length) {
            throw new IllegalArgumentException("count " + count + " must be in [0, min(dstAddresses.length "
                    + dstAddresses.length + ", srcAddresses.length " + srcAddresses.length + ", sizes.length "
                    + sizes.length + ")]");
        }
        for (int i = 0; i < count; i++) {
            if (sizes[i] < 0) {
                throw new IllegalArgumentException("sizes[" + i + "] is negative: " + sizes[i]);
            }
            if (sizes[i] > 0 && (dstAddresses[i] == 0 || srcAddresses[i] == 0)) {
                throw new IllegalArgumentException("copy " + i + " of " + sizes[i] + " bytes has a NULL address: dst 0x"
                        + Long.toHexString(dstAddresses[i]) + ", src 0x" + Long.toHexString(srcAddresses[i]));
            }
        }
        if (count == 0) {
            return;
        }
        MemorySegment streamHandle = stream.handle();
        ensureRuntime();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dsts = arena.allocateFrom(JAVA_LONG, Arrays.copyOf(dstAddresses, count));
            MemorySegment srcs = arena.allocateFrom(JAVA_LONG, Arrays.copyOf(srcAddresses, count));
            MemorySegment byteCounts = arena.allocateFrom(JAVA_LONG, Arrays.copyOf(sizes, count));
            // One attribute set for every copy: sources are read in stream order, no location hints.
            MemorySegment attributes = cudaMemcpyAttributes.allocate(arena);
            cudaMemcpyAttributes.srcAccessOrder(attributes, CudaRuntimeApi.cudaMemcpySrcAccessOrderStream());
            MemorySegment attributeIndices = arena.allocateFrom(JAVA_LONG, 0L);
            NativeResults.checkCuda("cudaMemcpyBatchAsync", CudaRuntimeApi.cudaMemcpyBatchAsync(
                    dsts, srcs, byteCounts, count, attributes, attributeIndices, 1, streamHandle));
        }
    }

    /**
     * cudaMemcpy with cudaMemcpyDefault (the runtime infers the direction from the addresses); synchronous.
     */
    public static void memcpy(long dstAddress, long srcAddress, long bytes) {
        requireCopy(dstAddress, srcAddress, bytes);
        ensureRuntime();
        NativeResults.checkCuda("cudaMemcpy", CudaRuntimeApi.cudaMemcpy(MemorySegment.ofAddress(dstAddress),
                MemorySegment.ofAddress(srcAddress), bytes, CudaRuntimeApi.cudaMemcpyDefault()));
    }

    /**
     * cudaMemcpyAsync with cudaMemcpyDefault (the runtime infers the direction from the addresses), ordered on
     * {@code stream}: exactly one native call. The copy runs asynchronously: source and destination must stay valid,
     * and a host side must be pinned for the copy to be asynchronous, until the stream has passed this point.
     *
     * @param stream a stream from {@link CudaStream#create()}
     */
    public static void memcpyAsync(long dstAddress, long srcAddress, long bytes, CudaStream stream) {
        Objects.requireNonNull(stream, "stream");
        requireCopy(dstAddress, srcAddress, bytes);
        MemorySegment streamHandle = stream.handle();
        ensureRuntime();
        NativeResults.checkCuda("cudaMemcpyAsync", CudaRuntimeApi.cudaMemcpyAsync(MemorySegment.ofAddress(dstAddress),
                MemorySegment.ofAddress(srcAddress), bytes, CudaRuntimeApi.cudaMemcpyDefault(), streamHandle));
    }

    private static void requireCopy(long dstAddress, long srcAddress, long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("bytes is negative: " + bytes);
        }
        if (bytes > 0 && (dstAddress == 0 || srcAddress == 0)) {
            throw new IllegalArgumentException("NULL address: dst 0x" + Long.toHexString(dstAddress) + ", src 0x"
                    + Long.toHexString(srcAddress));
        }
    }

    private static void requireDeviceOrdinal(int device) {
        if (device < 0) {
            throw new IllegalArgumentException("device ordinal is negative: " + device);
        }
    }
}
