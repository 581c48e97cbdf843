package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Device paths over the fake CUDA runtime (host memory posing as device memory): devices, buffers, streams,
 * events and the batched copy.
 */
@Tag("fake-cuda")
class FakeCudaMemoryTest {
    private long allocationsBefore;

    @BeforeEach
    void fakeRuntime() {
        assertTrue(FakeNative.cudartIsFake(), "the fake-cuda execution loads the fake runtime: "
                + NativeLibraries.status(NativeLibrary.CUDART));
        FakeNative.cudartReset();
        allocationsBefore = FakeNative.cudartLiveAllocations();
    }

    @AfterEach
    void nothingLeaked() {
        FakeNative.cudartSetStreamBusy(false);
        assertEquals(allocationsBefore, FakeNative.cudartLiveAllocations(), "every allocation was freed");
    }

    private static byte[] pattern(int length, int seed) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i * 31 + seed);
        }
        return bytes;
    }

    @Test
    void devicesAreCountedAndDescribed() {
        assertEquals(13000, Cuda.runtimeVersion());
        assertEquals(1, Cuda.deviceCount());
        Cuda.DeviceProbe probe = Cuda.probeDevices();
        assertEquals(1, probe.count());
        assertTrue(probe.cause().isEmpty());
        Cuda.setDevice(0);
        assertEquals(0, Cuda.currentDevice());
        assertEquals("0000:fa:00.0", Cuda.pciBusId(0));
        assertEquals(16L << 30, Cuda.memInfo().total());
        Cuda.synchronize();

        CudaException invalid = assertThrows(CudaException.class, () -> Cuda.setDevice(1));
        assertEquals(101, invalid.code());
        assertEquals("cudaErrorInvalidDevice", invalid.errorName());
    }

    @Test
    void deviceBufferRoundTripsHeapAndNativeHostMemory() {
        long freeBefore = Cuda.memInfo().free();
        try (DeviceBuffer buffer = DeviceBuffer.allocate(1000); Arena arena = Arena.ofConfined()) {
            assertEquals(1000, buffer.byteSize());
            assertEquals(0, buffer.address() % 256, "cudaMalloc alignment");
            assertEquals(freeBefore - 1000, Cuda.memInfo().free());

            byte[] heap = pattern(100, 3);
            buffer.copyFromHost(MemorySegment.ofArray(heap), 24);
            MemorySegment nativeSource = arena.allocateFrom(JAVA_BYTE, pattern(50, 9));
            buffer.copyFromHost(nativeSource, 900);

            byte[] back = new byte[100];
            buffer.copyToHost(24, MemorySegment.ofArray(back));
            assertArrayEquals(heap, back);
            MemorySegment nativeBack = arena.allocate(50);
            buffer.copyToHost(900, nativeBack);
            assertArrayEquals(pattern(50, 9), nativeBack.toArray(JAVA_BYTE));
        }
    }

    @Test
    void memsetFillsTheWholeBuffer() {
        try (DeviceBuffer buffer = DeviceBuffer.allocate(64)) {
            buffer.memset(0xab);
            byte[] back = new byte[64];
            buffer.copyToHost(0, MemorySegment.ofArray(back));
            byte[] expected = new byte[64];
            Arrays.fill(expected, (byte) 0xab);
            assertArrayEquals(expected, back);
        }
    }

    @Test
    void outOfBoundsCopiesAndSlicesAreRejectedBeforeAnyNativeCall() {
        try (DeviceBuffer buffer = DeviceBuffer.allocate(128)) {
            long copies = FakeNative.cudartCallCount("cudaMemcpy");

            IndexOutOfBoundsException tooFar = assertThrows(IndexOutOfBoundsException.class,
                    () -> buffer.copyFromHost(MemorySegment.ofArray(new byte[64]), 100));
            assertTrue(tooFar.getMessage().contains("offset 100") && tooFar.getMessage().contains("128"),
                    tooFar.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> buffer.copyToHost(-1, MemorySegment.ofArray(new byte[1])));
            assertThrows(IndexOutOfBoundsException.class, () -> buffer.slice(64, 65));
            assertThrows(IllegalArgumentException.class,
                    () -> buffer.copyToHost(0, MemorySegment.ofArray(new byte[1]).asReadOnly()));
            assertEquals(copies, FakeNative.cudartCallCount("cudaMemcpy"));
        }
    }

    @Test
    void slicesAddressIntoTheirOwnerAndDieWithIt() {
        DeviceBuffer buffer = DeviceBuffer.allocate(256);
        DeviceMemory slice = buffer.slice(64, 128);
        DeviceMemory inner = slice.slice(16, 32);

        assertEquals(buffer.address() + 64, slice.address());
        assertEquals(128, slice.byteSize());
        assertEquals(buffer.address() + 80, inner.address());
        assertThrows(IndexOutOfBoundsException.class, () -> slice.slice(100, 29));

        buffer.close();
        IllegalStateException closed = assertThrows(IllegalStateException.class, inner::address);
        assertTrue(closed.getMessage().contains("DeviceBuffer") && closed.getMessage().contains("closed"),
                closed.getMessage());
    }

    @Test
    void closeFreesOnceAndUseAfterCloseNamesTheBuffer() {
        DeviceBuffer buffer = DeviceBuffer.allocate(32);
        assertEquals(allocationsBefore + 1, FakeNative.cudartLiveAllocations());

        buffer.close();
        buffer.close();

        assertEquals(1, FakeNative.cudartCallCount("cudaFree"));
        IllegalStateException closed = assertThrows(IllegalStateException.class,
                () -> buffer.copyFromHost(MemorySegment.ofArray(new byte[4]), 0));
        assertTrue(closed.getMessage().startsWith("DeviceBuffer[0x"), closed.getMessage());
        assertThrows(IllegalStateException.class, () -> buffer.memset(0));
    }

    @Test
    void aFailedAllocationLeavesNothingBehind() {
        FakeNative.cudartFailNext("cudaMalloc", 2);

        CudaException failure = assertThrows(CudaException.class, () -> DeviceBuffer.allocate(64));

        assertEquals("cudaMalloc", failure.call());
        assertEquals("cudaErrorMemoryAllocation", failure.errorName());
        assertEquals("out of memory", failure.errorMessage());
    }

    @Test
    void aFailingFreeIsReportedByClose() {
        DeviceBuffer buffer = DeviceBuffer.allocate(16);
        long address = buffer.address();
        FakeNative.cudartFailNext("cudaFree", 1);

        CudaException failure = assertThrows(CudaException.class, buffer::close);

        assertEquals("cudaFree", failure.call());
        buffer.close(); // no second attempt: the handle is closed
        assertEquals(1, FakeNative.cudartCallCount("cudaFree"));
        // the fake kept the block; free it so the leak check holds
        assertEquals(0, io.github.panamanccl.internal.cuda.CudaRuntimeApi.cudaFree(MemorySegment.ofAddress(address)));
    }

    @Test
    void pinnedHostMemoryIsAccessibleUntilClosed() {
        PinnedHostBuffer pinned = PinnedHostBuffer.allocate(64);
        MemorySegment segment = pinned.segment();
        assertEquals(64, segment.byteSize());
        assertEquals(pinned.address(), segment.address());
        segment.set(JAVA_INT, 60, 0x12345678);
        assertEquals(0x12345678, pinned.segment().get(JAVA_INT, 60));

        pinned.close();
        pinned.close();

        assertEquals(1, FakeNative.cudartCallCount("cudaFreeHost"));
        assertThrows(IllegalStateException.class, () -> segment.get(JAVA_INT, 0), "the segment dies with the buffer");
        IllegalStateException closed = assertThrows(IllegalStateException.class, pinned::segment);
        assertTrue(closed.getMessage().startsWith("PinnedHostBuffer[0x"), closed.getMessage());
    }

    @Test
    void asyncCopiesThroughPinnedMemoryOnAStream() {
        try (PinnedHostBuffer pinned = PinnedHostBuffer.allocate(256);
             DeviceBuffer device = DeviceBuffer.allocate(256);
             CudaStream stream = CudaStream.create()) {
            pinned.segment().copyFrom(MemorySegment.ofArray(pattern(256, 1)));
            device.copyFromHostAsync(pinned.segment(), 0, stream);
            pinned.segment().fill((byte) 0);
            device.copyToHostAsync(0, pinned.segment().asSlice(128), stream);
            stream.synchronize();

            assertArrayEquals(Arrays.copyOf(pattern(256, 1), 128), pinned.segment().asSlice(128).toArray(JAVA_BYTE));
            assertEquals(2, FakeNative.cudartCallCount("cudaMemcpyAsync"));
            assertThrows(IllegalArgumentException.class,
                    () -> device.copyFromHostAsync(MemorySegment.ofArray(new byte[8]), 0, stream),
                    "heap memory cannot be the source of an asynchronous copy");
        }
    }

    @Test
    void memcpyBatchAsyncIsExactlyOneNativeCall() {
        try (PinnedHostBuffer source = PinnedHostBuffer.allocate(300);
             DeviceBuffer target = DeviceBuffer.allocate(300);
             CudaStream stream = CudaStream.create()) {
            source.segment().copyFrom(MemorySegment.ofArray(pattern(300, 5)));
            long[] dst = {target.address() + 200, target.address(), target.address() + 100};
            long[] src = {source.address(), source.address() + 100, source.address() + 200};
            long[] sizes = {100, 100, 100};

            Cuda.memcpyBatchAsync(dst, src, sizes, 3, stream);
            stream.synchronize();

            assertEquals(1, FakeNative.cudartCallCount("cudaMemcpyBatchAsync"));
            assertEquals(0, FakeNative.cudartCallCount("cudaMemcpy") + FakeNative.cudartCallCount("cudaMemcpyAsync"));
            byte[] back = new byte[300];
            target.copyToHost(0, MemorySegment.ofArray(back));
            byte[] sent = pattern(300, 5);
            assertArrayEquals(Arrays.copyOfRange(sent, 100, 200), Arrays.copyOfRange(back, 0, 100));
            assertArrayEquals(Arrays.copyOfRange(sent, 200, 300), Arrays.copyOfRange(back, 100, 200));
            assertArrayEquals(Arrays.copyOfRange(sent, 0, 100), Arrays.copyOfRange(back, 200, 300));

            Cuda.memcpyBatchAsync(dst, src, sizes, 0, stream);
            assertEquals(1, FakeNative.cudartCallCount("cudaMemcpyBatchAsync"), "count 0 makes no call");
            assertThrows(IllegalArgumentException.class, () -> Cuda.memcpyBatchAsync(dst, src, sizes, 4, stream));
            assertThrows(IllegalArgumentException.class,
                    () -> Cuda.memcpyBatchAsync(dst, src, new long[] {1, -1, 1}, 3, stream));
            assertThrows(IllegalArgumentException.class,
                    () -> Cuda.memcpyBatchAsync(new long[] {0}, src, sizes, 1, stream));
            assertEquals(1, FakeNative.cudartCallCount("cudaMemcpyBatchAsync"));

            FakeNative.cudartFailNext("cudaMemcpyBatchAsync", 1);
            CudaException failure = assertThrows(CudaException.class,
                    () -> Cuda.memcpyBatchAsync(dst, src, sizes, 3, stream));
            assertEquals("cudaMemcpyBatchAsync", failure.call());
            assertEquals("cudaErrorInvalidValue", failure.errorName());
        }
    }

    @Test
    void memcpyCopiesBetweenDeviceBuffers() {
        try (DeviceBuffer from = DeviceBuffer.allocate(40); DeviceBuffer to = DeviceBuffer.allocate(40)) {
            from.copyFromHost(MemorySegment.ofArray(pattern(40, 2)), 0);
            Cuda.memcpy(to.address(), from.address(), 40);
            byte[] back = new byte[40];
            to.copyToHost(0, MemorySegment.ofArray(back));
            assertArrayEquals(pattern(40, 2), back);
        }
    }

    @Test
    void memcpyAsyncIsOneCallOnTheGivenStream() {
        try (PinnedHostBuffer source = PinnedHostBuffer.allocate(64);
             DeviceBuffer target = DeviceBuffer.allocate(64);
             CudaStream stream = CudaStream.create()) {
            source.segment().copyFrom(MemorySegment.ofArray(pattern(64, 7)));

            Cuda.memcpyAsync(target.address() + 16, source.address(), 48, stream);
            stream.synchronize();

            assertEquals(1, FakeNative.cudartCallCount("cudaMemcpyAsync"));
            assertEquals(0, FakeNative.cudartCallCount("cudaMemcpy"));
            byte[] back = new byte[48];
            target.copyToHost(16, MemorySegment.ofArray(back));
            assertArrayEquals(Arrays.copyOf(pattern(64, 7), 48), back);

            assertThrows(IllegalArgumentException.class, () -> Cuda.memcpyAsync(target.address(), 0, 1, stream));
            assertThrows(IllegalArgumentException.class,
                    () -> Cuda.memcpyAsync(target.address(), source.address(), -1, stream));
            assertThrows(NullPointerException.class,
                    () -> Cuda.memcpyAsync(target.address(), source.address(), 1, null));
            assertEquals(1, FakeNative.cudartCallCount("cudaMemcpyAsync"), "rejected before any native call");

            FakeNative.cudartFailNext("cudaMemcpyAsync", 1);
            CudaException failure = assertThrows(CudaException.class,
                    () -> Cuda.memcpyAsync(target.address(), source.address(), 8, stream));
            assertEquals("cudaMemcpyAsync", failure.call());
            assertEquals("cudaErrorInvalidValue", failure.errorName());
        }
        CudaStream closed = CudaStream.create();
        closed.close();
        assertThrows(IllegalStateException.class, () -> Cuda.memcpyAsync(1, 1, 1, closed));
    }

    @Test
    void queriesOnManyThreadsEachReadTheirOwnAnswer() throws Exception {
        long total = Cuda.memInfo().total();
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<Boolean>> answers = new ArrayList<>();
            for (int thread = 0; thread < 4; thread++) {
                answers.add(pool.submit(() -> {
                    for (int i = 0; i < 2_000; i++) {
                        if (Cuda.runtimeVersion() != 13000 || !"0000:fa:00.0".equals(Cuda.pciBusId(0))
                                || Cuda.memInfo().total() != total || Cuda.deviceCount() != 1
                                || Cuda.currentDevice() != 0) {
                            return false;
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> answer : answers) {
                assertTrue(answer.get());
            }
        }
    }

    @Test
    void streamsReportCompletionAndCloseOnce() {
        CudaStream stream = CudaStream.create();
        assertTrue(stream.isComplete());
        FakeNative.cudartSetStreamBusy(true);
        assertFalse(stream.isComplete());
        FakeNative.cudartSetStreamBusy(false);

        stream.close();
        stream.close();

        assertEquals(1, FakeNative.cudartCallCount("cudaStreamDestroy"));
        IllegalStateException closed = assertThrows(IllegalStateException.class, stream::synchronize);
        assertTrue(closed.getMessage().startsWith("CudaStream[0x"), closed.getMessage());
    }

    @Test
    void eventsTimeAndOrderStreams() {
        try (CudaStream stream = CudaStream.create();
             CudaStream other = CudaStream.create();
             CudaEvent start = CudaEvent.create(true);
             CudaEvent end = CudaEvent.create(true);
             CudaEvent marker = CudaEvent.create(false)) {
            start.record(stream);
            end.record(stream);
            end.synchronize();
            assertTrue(end.isComplete());
            assertTrue(CudaEvent.elapsedMillis(start, end) >= 0f);

            marker.record(stream);
            other.waitEvent(marker);
            assertEquals(1, FakeNative.cudartCallCount("cudaStreamWaitEvent"));

            CudaException noTiming = assertThrows(CudaException.class, () -> CudaEvent.elapsedMillis(start, marker));
            assertEquals("cudaEventElapsedTime", noTiming.call());
            assertEquals("cudaErrorInvalidResourceHandle", noTiming.errorName());
        }
        assertEquals(3, FakeNative.cudartCallCount("cudaEventDestroy"));
    }
}
