package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA side on a real GPU with the real libcudart.so.13: buffers, pinned memory, streams, events and
 * cudaMemcpyBatchAsync on device memory. Tag {@code gpu}: runs only on the GPU machine.
 */
@Tag("gpu")
class RealCudaGpuTest {
    private static final int MIB = 1 << 20;

    @BeforeAll
    static void realGpu() {
        assertFalse(FakeNative.cudartIsFake(), "needs the real CUDA runtime, not the fake");
        assertTrue(Cuda.deviceCount() >= 1, "needs a GPU");
        Cuda.setDevice(0);
    }

    private static byte[] randomBytes(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @Test
    void theDeviceIsDescribed() {
        int runtime = Cuda.runtimeVersion();
        assertEquals(13, runtime / 1000, "runtime " + runtime + " behind libcudart.so.13");
        // minor version compatibility: any driver of the same major version runs this runtime
        assertTrue(Cuda.driverVersion() / 1000 >= 13, "driver supports CUDA " + Cuda.driverVersion());
        assertTrue(Cuda.pciBusId(0).matches("[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-9a-fA-F]"),
                Cuda.pciBusId(0));
        Cuda.MemInfo memory = Cuda.memInfo();
        assertTrue(memory.total() > 0 && memory.free() <= memory.total(), memory.toString());
        assertEquals(0, Cuda.currentDevice());
        assertTrue(SystemReport.text().contains("device 0: " + Cuda.pciBusId(0)));
    }

    @Test
    void deviceMemoryRoundTripsByteForByte() {
        byte[] data = randomBytes(8 * MIB, 1);
        try (DeviceBuffer buffer = DeviceBuffer.allocate(8 * MIB + 512); Arena arena = Arena.ofConfined()) {
            buffer.copyFromHost(MemorySegment.ofArray(data), 512);
            byte[] back = new byte[8 * MIB];
            buffer.copyToHost(512, MemorySegment.ofArray(back));
            assertArrayEquals(data, back);

            MemorySegment nativeBack = arena.allocate(1000);
            buffer.copyToHost(512 + 4096, nativeBack);
            assertArrayEquals(Arrays.copyOfRange(data, 4096, 5096), nativeBack.toArray(JAVA_BYTE));

            buffer.memset(0x5a);
            byte[] filled = new byte[512];
            buffer.copyToHost(0, MemorySegment.ofArray(filled));
            byte[] expected = new byte[512];
            Arrays.fill(expected, (byte) 0x5a);
            assertArrayEquals(expected, filled);
        }
    }

    @Test
    void pinnedMemoryCopiesAsynchronouslyOnAStream() {
        byte[] data = randomBytes(4 * MIB, 2);
        try (PinnedHostBuffer pinned = PinnedHostBuffer.allocate(4 * MIB);
             DeviceBuffer device = DeviceBuffer.allocate(4 * MIB);
             CudaStream stream = CudaStream.create();
             CudaEvent start = CudaEvent.create(true);
             CudaEvent end = CudaEvent.create(true)) {
            pinned.segment().copyFrom(MemorySegment.ofArray(data));
            start.record(stream);
            device.copyFromHostAsync(pinned.segment(), 0, stream);
            end.record(stream);
            end.synchronize();
            assertTrue(end.isComplete());
            assertTrue(CudaEvent.elapsedMillis(start, end) >= 0f);

            pinned.segment().fill((byte) 0);
            device.copyToHostAsync(0, pinned.segment(), stream);
            stream.synchronize();
            assertTrue(stream.isComplete());
            assertArrayEquals(data, pinned.segment().toArray(JAVA_BYTE));
        }
    }

    @Test
    void oneBatchedCopyMovesManyRegions() {
        int regions = 64;
        int regionBytes = 64 * 1024;
        byte[] data = randomBytes(regions * regionBytes, 3);
        try (PinnedHostBuffer source = PinnedHostBuffer.allocate((long) regions * regionBytes);
             DeviceBuffer staging = DeviceBuffer.allocate((long) regions * regionBytes);
             DeviceBuffer target = DeviceBuffer.allocate((long) regions * regionBytes);
             CudaStream stream = CudaStream.create()) {
            source.segment().copyFrom(MemorySegment.ofArray(data));
            long[] dst = new long[regions];
            long[] src = new long[regions];
            long[] sizes = new long[regions];
            for (int i = 0; i < regions; i++) {
                // host -> device, reversing the order of the regions
                dst[i] = staging.address() + (long) (regions - 1 - i) * regionBytes;
                src[i] = source.address() + (long) i * regionBytes;
                sizes[i] = regionBytes;
            }
            Cuda.memcpyBatchAsync(dst, src, sizes, regions, stream);
            long[] back = new long[regions];
            long[] from = new long[regions];
            for (int i = 0; i < regions; i++) {
                // device -> device, restoring the order
                back[i] = target.address() + (long) i * regionBytes;
                from[i] = staging.address() + (long) (regions - 1 - i) * regionBytes;
            }
            Cuda.memcpyBatchAsync(back, from, sizes, regions, stream);
            stream.synchronize();

            byte[] result = new byte[regions * regionBytes];
            target.copyToHost(0, MemorySegment.ofArray(result));
            assertArrayEquals(data, result);
        }
    }

    @Test
    void streamsWaitForEventsOnOtherStreams() {
        byte[] data = randomBytes(MIB, 4);
        try (PinnedHostBuffer pinned = PinnedHostBuffer.allocate(MIB);
             DeviceBuffer device = DeviceBuffer.allocate(MIB);
             CudaStream producer = CudaStream.create();
             CudaStream consumer = CudaStream.create();
             CudaEvent uploaded = CudaEvent.create(false)) {
            pinned.segment().copyFrom(MemorySegment.ofArray(data));
            device.copyFromHostAsync(pinned.segment(), 0, producer);
            uploaded.record(producer);
            consumer.waitEvent(uploaded);
            try (PinnedHostBuffer back = PinnedHostBuffer.allocate(MIB)) {
                device.copyToHostAsync(0, back.segment(), consumer);
                consumer.synchronize();
                assertArrayEquals(data, back.segment().toArray(JAVA_BYTE));
            }
        }
    }

    @Test
    void memcpyCopiesDeviceToDevice() {
        byte[] data = randomBytes(MIB, 5);
        try (DeviceBuffer from = DeviceBuffer.allocate(MIB); DeviceBuffer to = DeviceBuffer.allocate(MIB)) {
            from.copyFromHost(MemorySegment.ofArray(data), 0);
            Cuda.memcpy(to.address(), from.address(), MIB);
            byte[] back = new byte[MIB];
            to.copyToHost(0, MemorySegment.ofArray(back));
            assertArrayEquals(data, back);
        }
    }
}
