package io.github.panamanccl.bucket;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.NativeLibraries;
import io.github.panamanccl.NativeLibrary;
import io.github.panamanccl.PinnedHostBuffer;
import io.github.panamanccl.testing.FakeNative;
import io.github.panamanccl.testing.RawPlanWriter;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device path over the fake CUDA runtime (host memory posing as device memory): byte-exact against the host
 * path, one cudaMemcpyBatchAsync per bucket for pack and for scatter, and no native call for host packing or views.
 */
@Tag("fake-cuda")
class DeviceBucketPackerTest {
    private static final List<String> CUDART_FUNCTIONS = List.of("cudaGetDeviceCount", "cudaSetDevice",
            "cudaGetDevice", "cudaDeviceSynchronize", "cudaDeviceGetPCIBusId", "cudaMemGetInfo", "cudaRuntimeGetVersion",
            "cudaDriverGetVersion", "cudaGetLastError", "cudaMalloc", "cudaFree", "cudaMallocHost", "cudaFreeHost",
            "cudaHostRegister", "cudaHostUnregister", "cudaPointerGetAttributes", "cudaMemcpy", "cudaMemcpyAsync",
            "cudaMemcpyBatchAsync", "cudaMemset", "cudaMemsetAsync", "cudaStreamCreateWithFlags", "cudaStreamDestroy",
            "cudaStreamSynchronize", "cudaStreamQuery", "cudaStreamWaitEvent", "cudaEventCreate",
            "cudaEventCreateWithFlags", "cudaEventRecord", "cudaEventQuery", "cudaEventSynchronize",
            "cudaEventElapsedTime", "cudaEventDestroy", "cudaGetErrorName", "cudaGetErrorString");
    private static final List<String> NCCL_FUNCTIONS = List.of("ncclGetVersion", "ncclGetUniqueId", "ncclCommInitRank",
            "ncclCommInitRankConfig", "ncclCommInitAll", "ncclCommSplit", "ncclCommFinalize", "ncclCommDestroy",
            "ncclCommAbort", "ncclGetErrorString", "ncclGetLastError", "ncclCommGetAsyncError", "ncclCommCount",
            "ncclCommCuDevice", "ncclCommUserRank", "ncclBroadcast", "ncclBcast", "ncclAllReduce", "ncclReduce",
            "ncclAllGather", "ncclReduceScatter", "ncclSend", "ncclRecv", "ncclGroupStart", "ncclGroupEnd",
            "ncclMemAlloc", "ncclMemFree", "ncclCommRegister", "ncclCommDeregister");

    private final List<AutoCloseable> resources = new ArrayList<>();
    private long allocationsBefore;

    @BeforeEach
    void fakeRuntime() {
        assertTrue(FakeNative.cudartIsFake(), "the fake-cuda execution loads the fake runtime: "
                + NativeLibraries.status(NativeLibrary.CUDART));
        allocationsBefore = FakeNative.cudartLiveAllocations();
    }

    @AfterEach
    void freeEverything() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
        assertEquals(allocationsBefore, FakeNative.cudartLiveAllocations(), "every allocation was freed");
    }

    private <T extends AutoCloseable> T track(T resource) {
        resources.add(resource);
        return resource;
    }

    private static long nativeCalls() {
        long total = 0;
        for (String function : CUDART_FUNCTIONS) {
            total += FakeNative.cudartCallCount(function);
        }
        for (String function : NCCL_FUNCTIONS) {
            total += FakeNative.ncclCallCount(function);
        }
        return total;
    }

    private static void resetCounters() {
        FakeNative.cudartReset();
        FakeNative.ncclReset();
        assertEquals(0, nativeCalls());
    }

    /** An inventory with split tensors, padding, scalars and empty tensors; cap 4 KiB. */
    private static List<TensorSpec> inventory() {
        List<TensorSpec> tensors = new ArrayList<>(PlanFixtures.randomInventory(new Random(42), 60, 24));
        tensors.add(new TensorSpec("big", DType.FLOAT32, 3000));
        tensors.add(new TensorSpec("tail", DType.BFLOAT16, 3));
        return tensors;
    }

    /** Device copies of the sources: even tensors in device buffers, odd ones in pinned host memory. */
    private long[] upload(BucketPlan plan, MemorySegment[] sources) {
        long[] addresses = new long[plan.tensorCount()];
        for (int t = 0; t < addresses.length; t++) {
            if (sources[t].byteSize() == 0) {
                continue;
            }
            if (t % 2 == 0) {
                DeviceBuffer buffer = track(DeviceBuffer.allocate(sources[t].byteSize()));
                buffer.copyFromHost(sources[t], 0);
                addresses[t] = buffer.address();
            } else {
                PinnedHostBuffer buffer = track(PinnedHostBuffer.allocate(sources[t].byteSize()));
                buffer.segment().copyFrom(sources[t]);
                addresses[t] = buffer.address();
            }
        }
        return addresses;
    }

    private DeviceBuffer[] garbageBuckets(BucketPlan plan) {
        DeviceBuffer[] buckets = new DeviceBuffer[plan.bucketCount()];
        for (int b = 0; b < buckets.length; b++) {
            buckets[b] = track(DeviceBuffer.allocate(plan.bucketByteSize(b)));
            buckets[b].memset(0xA5);
        }
        return buckets;
    }

    @Test
    void packAndScatterTakeOneBatchedCopyPerBucketAndMatchTheHostPath() {
        List<TensorSpec> inventory = inventory();
        BucketPlan plan = BucketPlanner.plan(inventory, 4096, 256);
        assertTrue(plan.isSplit(plan.indexOf("big")));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            MemorySegment[] hostBuckets = PlanFixtures.packAll(arena, plan, sources);
            long[] sourceAddresses = upload(plan, sources);
            DeviceBuffer[] buckets = garbageBuckets(plan);
            CudaStream stream = track(CudaStream.create());
            resetCounters();
            DeviceBucketPacker packer = track(DeviceBucketPacker.create(plan));
            assertEquals(0, nativeCalls(), "creating a packer makes no native call");

            for (int b = 0; b < plan.bucketCount(); b++) {
                packer.pack(b, sourceAddresses, buckets[b], stream);
                assertEquals(b + 1, FakeNative.cudartCallCount("cudaMemcpyBatchAsync"));
            }
            assertEquals(1, FakeNative.cudartCallCount("cudaMallocHost"), "the zero buffer, allocated on first need");
            assertEquals(plan.bucketCount() + 1, nativeCalls(),
                    "nothing but one cudaMemcpyBatchAsync per bucket and the zero buffer's allocation");
            stream.synchronize();
            for (int b = 0; b < plan.bucketCount(); b++) {
                MemorySegment copy = arena.allocate(plan.bucketByteSize(b));
                buckets[b].copyToHost(0, copy);
                assertEquals(-1, copy.mismatch(hostBuckets[b].asSlice(0, plan.bucketByteSize(b))),
                        "bucket " + b + " equals the host packing, zero padding included");
            }

            long[] destinations = new long[plan.tensorCount()];
            DeviceBuffer[] destinationBuffers = new DeviceBuffer[plan.tensorCount()];
            for (int t = 0; t < destinations.length; t++) {
                if (sources[t].byteSize() > 0) {
                    destinationBuffers[t] = track(DeviceBuffer.allocate(sources[t].byteSize()));
                    destinationBuffers[t].memset(0x5A);
                    destinations[t] = destinationBuffers[t].address();
                }
            }
            resetCounters();
            for (int b = 0; b < plan.bucketCount(); b++) {
                packer.scatter(b, buckets[b], destinations, stream);
            }
            assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaMemcpyBatchAsync"));
            assertEquals(plan.bucketCount(), nativeCalls());
            stream.synchronize();
            for (int t = 0; t < destinations.length; t++) {
                if (destinationBuffers[t] != null) {
                    MemorySegment copy = arena.allocate(sources[t].byteSize());
                    destinationBuffers[t].copyToHost(0, copy);
                    assertEquals(-1, copy.mismatch(sources[t]), "tensor " + inventory.get(t) + " reassembled");
                }
            }
        }
    }

    @Test
    void longGapsAreZeroedInChunksWithinTheSameBatch() {
        // A decoded plan may have gaps longer than the zero buffer: 200 KiB of padding before the only tensor.
        long gap = 200 << 10;
        byte[] encoded = new RawPlanWriter().header(1L << 20, 256, 1, 1, 1).varint(gap + 16)
                .tensor("late", DType.FLOAT32, new long[] {4}, 0, gap, 16).bytes();
        BucketPlan plan = PlanCodec.decode(encoded);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, plan.tensors());
            long[] addresses = upload(plan, sources);
            DeviceBuffer bucket = garbageBuckets(plan)[0];
            CudaStream stream = track(CudaStream.create());
            DeviceBucketPacker packer = track(DeviceBucketPacker.create(plan));
            resetCounters();
            packer.pack(0, addresses, bucket, stream);
            assertEquals(1, FakeNative.cudartCallCount("cudaMemcpyBatchAsync"));
            assertEquals(2, nativeCalls(), "the batch and the zero buffer's allocation");
            stream.synchronize();
            MemorySegment copy = arena.allocate(plan.bucketByteSize(0));
            bucket.copyToHost(0, copy);
            assertEquals(-1, copy.mismatch(PlanFixtures.packAll(arena, plan, sources)[0].asSlice(0, gap + 16)));
        }
    }

    @Test
    void onlyPackingPaddingAllocatesTheZeroBufferOnceAndCloseFreesIt() {
        List<TensorSpec> inventory = inventory();
        BucketPlan plan = BucketPlanner.plan(inventory, 4096, 256);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            long[] addresses = upload(plan, sources);
            DeviceBuffer[] buckets = garbageBuckets(plan);
            CudaStream stream = track(CudaStream.create());
            long allocated = FakeNative.cudartLiveAllocations();
            DeviceBucketPacker packer = DeviceBucketPacker.create(plan);
            resetCounters();

            for (int b = 0; b < plan.bucketCount(); b++) {
                packer.scatter(b, buckets[b], addresses, stream); // a receiver's packer only scatters
            }
            assertEquals(0, FakeNative.cudartCallCount("cudaMallocHost"), "scatter never needs the zero buffer");
            assertEquals(allocated, FakeNative.cudartLiveAllocations());

            int padded = firstBucketWithPadding(plan);
            packer.pack(padded, addresses, buckets[padded], stream);
            packer.pack(padded, addresses, buckets[padded], stream);
            assertEquals(1, FakeNative.cudartCallCount("cudaMallocHost"));
            assertEquals(allocated + 1, FakeNative.cudartLiveAllocations());
            stream.synchronize();

            packer.close();
            packer.close();
            assertEquals(allocated, FakeNative.cudartLiveAllocations(), "close freed it");
            IllegalStateException closed = assertThrows(IllegalStateException.class,
                    () -> packer.pack(padded, addresses, buckets[padded], stream));
            assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
            assertEquals(1, FakeNative.cudartCallCount("cudaMallocHost"), "nothing allocated after close");
        }
    }

    private static int firstBucketWithPadding(BucketPlan plan) {
        for (int b = 0; b < plan.bucketCount(); b++) {
            long cursor = 0;
            for (BucketPlan.Piece piece : plan.piecesIn(b)) {
                if (piece.bucketOffset() > cursor) {
                    return b;
                }
                cursor = piece.bucketOffset() + piece.length();
            }
        }
        throw new AssertionError("the inventory was chosen to need padding");
    }

    @Test
    void viewsAndHostPackingMakeNoNativeCall() {
        List<TensorSpec> inventory = inventory();
        BucketPlan plan = BucketPlanner.plan(inventory, 4096, 256);
        DeviceBuffer bucket = track(DeviceBuffer.allocate(plan.bucketByteSize(0)));
        resetCounters();
        assertEquals(13000, Cuda.runtimeVersion());
        assertEquals(1, nativeCalls(), "the counters see calls");
        resetCounters();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            MemorySegment[] hostBuckets = PlanFixtures.packAll(arena, plan, sources);
            PlanFixtures.assertScatterRestores(arena, plan, hostBuckets, sources);
            for (BucketPlan.Piece piece : plan.piecesIn(0)) {
                if (!plan.isSplit(piece.tensor())) {
                    HostTensorView host = plan.hostView(piece.tensor(), hostBuckets[0]);
                    DeviceTensorView device = plan.deviceView(piece.tensor(), bucket);
                    assertEquals(MemoryKind.DEVICE, device.memoryKind());
                    assertEquals(bucket.address() + piece.bucketOffset(), device.address());
                    assertEquals(piece.length(), device.byteSize());
                    assertEquals(host.offset(), device.offset());
                    assertEquals(device.address() + piece.length() - 1, device.slice(piece.length() - 1, 1).address());
                }
            }
            assertEquals(plan, PlanCodec.decode(PlanCodec.encode(plan)));
        }
        assertEquals(0, nativeCalls(), "host packing, scattering, views and codecs call no native function");
    }

    @Test
    void rejectsBadArgumentsBeforeAnyCopy() {
        BucketPlan plan = BucketPlanner.plan(List.of(new TensorSpec("a", DType.FLOAT32, 64), new TensorSpec("b", DType.INT8, 256)), 512);
        DeviceBuffer bucket = track(DeviceBuffer.allocate(plan.bucketByteSize(0)));
        DeviceBuffer a = track(DeviceBuffer.allocate(256));
        CudaStream stream = track(CudaStream.create());
        DeviceBucketPacker packer = track(DeviceBucketPacker.create(plan));
        resetCounters();
        assertThrows(IllegalArgumentException.class, () -> packer.pack(0, new long[] {a.address(), 0}, bucket, stream));
        assertThrows(IllegalArgumentException.class, () -> packer.pack(0, new long[] {a.address()}, bucket, stream));
        assertThrows(IllegalArgumentException.class, () -> packer.scatter(0, bucket.slice(0, 100), new long[] {1, 1}, stream));
        assertThrows(IndexOutOfBoundsException.class, () -> packer.scatter(1, bucket, new long[] {1, 1}, stream));
        assertEquals(0, nativeCalls());
        assertThrows(IllegalArgumentException.class, () -> DeviceTensorView.of(plan.tensor(0), bucket));
        assertEquals(plan.tensor(0), DeviceTensorView.of(plan.tensor(0), a).spec());
    }
}
