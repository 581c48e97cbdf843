package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;
import io.github.panamanccl.internal.cuda.cudaMemcpyAttributes;
import io.github.panamanccl.internal.cuda.cudaPointerAttributes;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA runtime bindings our layer does not wrap, and the struct marshalling, against the fake runtime;
 * the last test checks that every function the binding declares was reached.
 */
@Tag("fake-cuda")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class FakeCudartBindingTest {
    private static final int SUCCESS = 0;
    private static final int INVALID_VALUE = 1;

    @BeforeAll
    static void fakeRuntime() {
        Cuda.ensureRuntime();
        assertTrue(FakeNative.cudartIsFake(), NativeLibraries.status(NativeLibrary.CUDART).toString());
        FakeNative.cudartReset(); // the coverage check at the end counts this class's calls only
    }

    @Test
    @Order(1)
    void pointerAttributesTellDeviceFromHostMemory() {
        try (DeviceBuffer device = DeviceBuffer.allocate(512);
             PinnedHostBuffer pinned = PinnedHostBuffer.allocate(512);
             Arena arena = Arena.ofConfined()) {
            MemorySegment attributes = cudaPointerAttributes.allocate(arena);
            assertEquals(88, attributes.byteSize());

            assertEquals(SUCCESS, CudaRuntimeApi.cudaPointerGetAttributes(attributes,
                    MemorySegment.ofAddress(device.address() + 100)));
            assertEquals(CudaRuntimeApi.cudaMemoryTypeDevice(), cudaPointerAttributes.type(attributes));
            assertEquals(device.address() + 100, cudaPointerAttributes.devicePointer(attributes).address());

            assertEquals(SUCCESS, CudaRuntimeApi.cudaPointerGetAttributes(attributes, pinned.segment()));
            assertEquals(CudaRuntimeApi.cudaMemoryTypeHost(), cudaPointerAttributes.type(attributes));
            assertEquals(pinned.address(), cudaPointerAttributes.hostPointer(attributes).address());

            MemorySegment pageable = arena.allocate(4096);
            assertEquals(SUCCESS, CudaRuntimeApi.cudaPointerGetAttributes(attributes, pageable));
            assertEquals(CudaRuntimeApi.cudaMemoryTypeUnregistered(), cudaPointerAttributes.type(attributes));
            assertEquals(SUCCESS, CudaRuntimeApi.cudaHostRegister(pageable, 4096, CudaRuntimeApi.cudaHostRegisterDefault()));
            assertEquals(SUCCESS, CudaRuntimeApi.cudaPointerGetAttributes(attributes, pageable));
            assertEquals(CudaRuntimeApi.cudaMemoryTypeHost(), cudaPointerAttributes.type(attributes));
            assertEquals(SUCCESS, CudaRuntimeApi.cudaHostUnregister(pageable));
            assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaPointerGetAttributes(MemorySegment.NULL, pageable));
        }
    }

    @Test
    @Order(2)
    void theLastErrorIsReportedOnceThenCleared() {
        assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaMalloc(MemorySegment.NULL, 16));
        assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaGetLastError());
        assertEquals(SUCCESS, CudaRuntimeApi.cudaGetLastError());
    }

    @Test
    @Order(3)
    void asyncMemsetAndPlainEventCreation() {
        try (DeviceBuffer device = DeviceBuffer.allocate(64); CudaStream stream = CudaStream.create();
             Arena arena = Arena.ofConfined()) {
            assertEquals(SUCCESS, CudaRuntimeApi.cudaMemsetAsync(MemorySegment.ofAddress(device.address()), 7, 64,
                    stream.handle()));
            byte[] back = new byte[64];
            device.copyToHost(0, MemorySegment.ofArray(back));
            byte[] sevens = new byte[64];
            Arrays.fill(sevens, (byte) 7);
            assertArrayEquals(sevens, back);

            MemorySegment event = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            assertEquals(SUCCESS, CudaRuntimeApi.cudaEventCreate(event));
            assertEquals(SUCCESS, CudaRuntimeApi.cudaEventDestroy(event.get(ADDRESS, 0)));
        }
    }

    @Test
    @Order(4)
    void theBatchedCopyRefusesTheLegacyStreamAndMalformedAttributes() {
        try (Arena arena = Arena.ofConfined(); CudaStream stream = CudaStream.create()) {
            MemorySegment from = arena.allocateFrom(JAVA_BYTE, (byte) 1, (byte) 2);
            MemorySegment to = arena.allocate(2);
            MemorySegment dsts = arena.allocateFrom(JAVA_LONG, to.address());
            MemorySegment srcs = arena.allocateFrom(JAVA_LONG, from.address());
            MemorySegment sizes = arena.allocateFrom(JAVA_LONG, 2L);
            MemorySegment attributes = cudaMemcpyAttributes.allocate(arena);
            cudaMemcpyAttributes.srcAccessOrder(attributes, CudaRuntimeApi.cudaMemcpySrcAccessOrderStream());
            MemorySegment indices = arena.allocateFrom(JAVA_LONG, 0L);

            assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, attributes, indices,
                    1, MemorySegment.NULL), "legacy default stream");
            assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, attributes, indices,
                    1, MemorySegment.ofAddress(1)), "cudaStreamLegacy");
            assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, attributes, indices,
                    0, stream.handle()), "numAttrs 0");
            indices.set(JAVA_LONG, 0, 1L);
            assertEquals(INVALID_VALUE, CudaRuntimeApi.cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, attributes, indices,
                    1, stream.handle()), "attrsIdxs[0] != 0");
            indices.set(JAVA_LONG, 0, 0L);
            assertEquals(SUCCESS, CudaRuntimeApi.cudaMemcpyBatchAsync(dsts, srcs, sizes, 1, attributes, indices,
                    1, stream.handle()));
            assertEquals(2, to.get(JAVA_BYTE, 1));
        }
    }

    @Test
    @Order(5)
    void everyRuntimeCallOurLayerMakesWorks() {
        assertEquals(1, Cuda.deviceCount());
        Cuda.setDevice(0);
        assertEquals(0, Cuda.currentDevice());
        Cuda.synchronize();
        assertEquals("0000:fa:00.0", Cuda.pciBusId(0));
        assertTrue(Cuda.memInfo().free() > 0);
        assertEquals(13000, Cuda.runtimeVersion());
        assertEquals(13000, Cuda.driverVersion());
        assertEquals("cudaErrorNotReady", NativeResults.cudaErrorName(600));
        assertEquals("device not ready", NativeResults.cudaErrorString(600));
        try (PinnedHostBuffer pinned = PinnedHostBuffer.allocate(64);
             DeviceBuffer device = DeviceBuffer.allocate(64);
             CudaStream stream = CudaStream.create();
             CudaEvent start = CudaEvent.create(true);
             CudaEvent end = CudaEvent.create(true)) {
            device.memset(0);
            device.copyFromHost(pinned.segment(), 0);
            device.copyFromHostAsync(pinned.segment(), 0, stream);
            Cuda.memcpyBatchAsync(new long[] {device.address()}, new long[] {pinned.address()}, new long[] {64}, 1, stream);
            start.record(stream);
            end.record(stream);
            stream.waitEvent(end);
            end.synchronize();
            assertTrue(end.isComplete());
            assertTrue(stream.isComplete());
            stream.synchronize();
            assertTrue(CudaEvent.elapsedMillis(start, end) >= 0);
        }
    }

    @Test
    @Order(Integer.MAX_VALUE)
    void everyBoundFunctionWasCalled() {
        List<String> functions = Arrays.stream(CudaRuntimeApi.class.getDeclaredMethods())
                .map(Method::getName)
                .filter(name -> name.endsWith("$handle"))
                .map(name -> name.substring(0, name.length() - "$handle".length()))
                .distinct().sorted().toList();

        assertEquals(35, functions.size(), functions.toString());
        List<String> neverCalled = functions.stream().filter(f -> FakeNative.cudartCallCount(f) == 0).toList();
        assertEquals(List.of(), neverCalled);
    }
}
