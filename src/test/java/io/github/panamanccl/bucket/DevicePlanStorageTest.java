package io.github.panamanccl.bucket;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaException;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclDataType;
import io.github.panamanccl.NcclUniqueId;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device plan-layout storage over the fake CUDA runtime and NCCL (host memory posing as device memory). */
@Tag("fake-cuda")
class DevicePlanStorageTest {
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    private long allocationsBefore;

    @BeforeEach
    void fakeRuntime() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        allocationsBefore = FakeNative.cudartLiveAllocations();
        FakeNative.cudartReset();
        FakeNative.ncclReset();
    }

    @AfterEach
    void nothingLeaks() {
        assertEquals(allocationsBefore, FakeNative.cudartLiveAllocations(), "every allocation was freed");
    }

    private static long copyCalls() {
        return FakeNative.cudartCallCount("cudaMemcpy") + FakeNative.cudartCallCount("cudaMemcpyAsync")
                + FakeNative.cudartCallCount("cudaMemcpyBatchAsync");
    }

    /** Writes every tensor's test contents into the storage (one cudaMemcpy per tensor) and returns them. */
    private static MemorySegment[] fill(Arena arena, DevicePlanStorage storage) {
        MemorySegment[] contents = PlanFixtures.sources(arena, storage.plan().tensors());
        for (int t = 0; t < contents.length; t++) {
            Cuda.memcpy(storage.tensor(t).address(), contents[t].address(), contents[t].byteSize());
        }
        return contents;
    }

    private static MemorySegment download(Arena arena, DeviceMemory memory) {
        MemorySegment copy = arena.allocate(Math.max(1, memory.byteSize())).asSlice(0, memory.byteSize());
        Cuda.memcpy(copy.address(), memory.address(), memory.byteSize());
        return copy;
    }

    @Test
    void onePerBucketMakesOneZeroedAllocationPerBucketLaidOutExactlyAsThePlan() {
        BucketPlan plan = PlanStorageFixtures.unsplitPlan();
        try (DevicePlanStorage storage = DevicePlanStorage.allocate(plan, StorageSegments.ONE_PER_BUCKET);
             Arena arena = Arena.ofConfined()) {
            assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaMalloc"), "one allocation per bucket");
            assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaMemset"), "each zeroed once");
            assertEquals(0, copyCalls());
            assertEquals(plan.bucketCount(), storage.allocationCount());
            assertEquals(plan.totalBucketBytes(), storage.allocatedBytes(), "256-byte alignment needs no slack");
            PlanStorageFixtures.assertLaidOutByPlan(storage, b -> storage.bucket(b).address(),
                    b -> storage.bucket(b).byteSize(), t -> storage.tensor(t).address());
            for (int b = 0; b < plan.bucketCount(); b++) {
                MemorySegment bytes = download(arena, storage.bucket(b));
                assertEquals(-1, bytes.mismatch(arena.allocate(bytes.byteSize())), "bucket " + b + " starts zeroed");
            }
        }
        assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaFree"));
    }

    @Test
    void oneForAllBucketsIsOneAllocationThatHoldsSplitTensorsInOnePiece() {
        BucketPlan plan = PlanStorageFixtures.splitPlan();
        try (DevicePlanStorage storage = DevicePlanStorage.allocate(plan)) {
            assertEquals(1, FakeNative.cudartCallCount("cudaMalloc"));
            assertEquals(1, FakeNative.cudartCallCount("cudaMemset"));
            assertEquals(StorageSegments.ONE_FOR_ALL_BUCKETS, storage.segments());
            PlanStorageFixtures.assertLaidOutByPlan(storage, b -> storage.bucket(b).address(),
                    b -> storage.bucket(b).byteSize(), t -> storage.tensor(t).address());
            DeviceTensorView big = storage.tensor("big");
            assertEquals(12_000, big.byteSize());
            assertEquals(storage.bucket(plan.piecesOf(plan.indexOf("big")).get(0).bucket()).address() + big.offset(),
                    big.address());
        }
        assertEquals(1, FakeNative.cudartCallCount("cudaFree"));
    }

    @Test
    void bucketsHoldExactlyWhatPackingTheTensorsWouldProduce() {
        BucketPlan plan = PlanStorageFixtures.splitPlan();
        try (DevicePlanStorage storage = DevicePlanStorage.allocate(plan); Arena arena = Arena.ofConfined()) {
            MemorySegment[] contents = fill(arena, storage);
            MemorySegment[] packed = PlanFixtures.packAll(arena, plan, contents);
            for (int b = 0; b < plan.bucketCount(); b++) {
                assertEquals(-1, download(arena, storage.bucket(b)).mismatch(packed[b].asSlice(0, plan.bucketByteSize(b))),
                        "bucket " + b + ", zero padding included");
            }
        }
    }

    @Test
    void largerAlignmentsAreMetWithSpareBytesInTheSameAllocation() {
        BucketPlan plan = BucketPlanner.plan(PlanStorageFixtures.inventory(), 64 << 10, 4096);
        try (DevicePlanStorage storage = DevicePlanStorage.allocate(plan)) {
            assertEquals(1, FakeNative.cudartCallCount("cudaMalloc"));
            PlanStorageFixtures.assertLaidOutByPlan(storage, b -> storage.bucket(b).address(),
                    b -> storage.bucket(b).byteSize(), t -> storage.tensor(t).address());
            long span = storage.bucket(plan.bucketCount() - 1).address() + plan.bucketByteSize(plan.bucketCount() - 1)
                    - storage.bucket(0).address();
            assertEquals(span + 4096 - 256, storage.allocatedBytes(), "the buckets plus the alignment slack");
        }
    }

    @Test
    void splitTensorsOneStorageCannotHoldAreRefusedBeforeAnyAllocation() {
        IllegalArgumentException perBucket = assertThrows(IllegalArgumentException.class,
                () -> DevicePlanStorage.allocate(PlanStorageFixtures.splitPlan(), StorageSegments.ONE_PER_BUCKET));
        assertTrue(perBucket.getMessage().contains(" is split across buckets "), perBucket.getMessage());
        assertTrue(perBucket.getMessage().contains("LargeTensors.OWN_BUCKET"), perBucket.getMessage());

        BucketPlan unalignedCap = BucketPlanner.plan(PlanStorageFixtures.inventory(), 4000, 256);
        IllegalArgumentException oneForAll = assertThrows(IllegalArgumentException.class,
                () -> DevicePlanStorage.allocate(unalignedCap));
        assertTrue(oneForAll.getMessage().contains("not adjacent in one segment"), oneForAll.getMessage());
        assertEquals(0, FakeNative.cudartCallCount("cudaMalloc"));
    }

    @Test
    void closeFreesOnceAndEveryViewAndBucketIsDeadAfterwards() {
        BucketPlan plan = BucketPlanner.plan(List.of(new TensorSpec("w", DType.FLOAT32, 8), new TensorSpec("none", DType.INT8, 0),
                new TensorSpec("b", DType.BFLOAT16, 3)), 4096);
        DevicePlanStorage storage = DevicePlanStorage.allocate(plan, StorageSegments.ONE_PER_BUCKET);
        DeviceTensorView weight = storage.tensor("w");
        DeviceTensorView empty = storage.tensor("none");
        DeviceMemory bucket = storage.bucket(0);
        DeviceMemory slice = weight.slice(4, 4);
        assertEquals(bucket.address(), empty.address(), "an empty tensor sits at the start of the first segment");
        assertFalse(storage.isClosed());

        storage.close();
        storage.close();

        assertTrue(storage.isClosed());
        assertEquals(1, FakeNative.cudartCallCount("cudaFree"), "freed exactly once");
        for (DeviceMemory dead : List.of(weight, empty, bucket, slice, storage.tensor(2))) {
            assertThrows(IllegalStateException.class, dead::address, dead.toString());
        }
        assertTrue(storage.toString().contains(", closed]"), storage.toString());
    }

    @Test
    void aFailedAllocationFreesWhatWasAllocated() {
        FakeNative.cudartFailNext("cudaMemset", 2);

        CudaException failure = assertThrows(CudaException.class, () -> DevicePlanStorage.allocate(PlanStorageFixtures.splitPlan()));

        assertEquals("cudaMemset", failure.call());
        assertEquals(1, FakeNative.cudartCallCount("cudaFree"), "the allocation made before the failure");
    }

    @Test
    void aPlanWithoutBytesAllocatesNothing() {
        BucketPlan plan = BucketPlanner.plan(List.of(new TensorSpec("e", DType.FLOAT16, 0, 7)), 4096);
        try (DevicePlanStorage storage = DevicePlanStorage.allocate(plan)) {
            assertEquals(0, storage.allocationCount());
            assertEquals(0, storage.tensor("e").byteSize());
            assertEquals(0, FakeNative.cudartCallCount("cudaMalloc"));
        }
    }

    @Test
    void namesMapsAndPlanChecks() {
        BucketPlan plan = PlanStorageFixtures.splitPlan();
        try (DevicePlanStorage storage = DevicePlanStorage.allocate(plan)) {
            assertSame(storage.tensor(plan.indexOf("tail")), storage.tensor("tail"));
            IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class, () -> storage.tensor("nope"));
            assertTrue(unknown.getMessage().contains("no tensor named nope"), unknown.getMessage());
            assertEquals(plan.tensors().stream().map(TensorSpec::name).toList(), List.copyOf(storage.tensorMemory().keySet()));
            assertEquals(storage.tensor("big").address(), storage.tensorMemory().get("big").address());
            assertEquals(Cuda.currentDevice(), storage.device());
            assertTrue(storage.hasLayoutOf(PlanCodec.decode(PlanCodec.encode(plan))), "an equal plan from a peer");
            assertFalse(storage.hasLayoutOf(BucketPlanner.plan(plan.tensors(), 8192, 256)));
        }
    }

    /**
     * The zero-copy path in miniature: each bucket of one storage broadcast (one ncclBroadcast, fake NCCL, one rank)
     * straight into the same bucket of another storage, and every tensor arrives byte for byte, with no copy call.
     */
    @Test
    void aBucketBroadcastStraightBetweenStoragesDeliversEveryTensor() {
        broadcastBetweenStorages(PlanStorageFixtures.splitPlan(), StorageSegments.ONE_FOR_ALL_BUCKETS);
        broadcastBetweenStorages(PlanStorageFixtures.unsplitPlan(), StorageSegments.ONE_PER_BUCKET);
    }

    private static void broadcastBetweenStorages(BucketPlan plan, StorageSegments sourceSegments) {
        try (Arena arena = Arena.ofConfined();
             DevicePlanStorage source = DevicePlanStorage.allocate(plan, sourceSegments);
             DevicePlanStorage destination = DevicePlanStorage.allocate(plan);
             NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
             CudaStream stream = CudaStream.create()) {
            MemorySegment[] contents = fill(arena, source);
            FakeNative.cudartReset();
            FakeNative.ncclReset();

            for (int b = 0; b < plan.bucketCount(); b++) {
                communicator.broadcast(source.bucket(b), destination.bucket(b), plan.bucketByteSize(b),
                        NcclDataType.UINT8, 0, stream);
            }
            communicator.await(stream, DEADLINE);

            assertEquals(plan.bucketCount(), FakeNative.ncclCallCount("ncclBroadcast"));
            assertEquals(0, copyCalls(), "no pack, no scatter");
            assertEquals(0, FakeNative.cudartCallCount("cudaMalloc"), "no staging");
            for (int t = 0; t < plan.tensorCount(); t++) {
                assertEquals(-1, download(arena, destination.tensor(t)).mismatch(contents[t]),
                        plan.tensor(t) + " from " + sourceSegments);
            }
        }
    }
}
