package io.github.panamanccl.bucket;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host plan-layout storage in pinned memory, over the fake CUDA runtime. */
@Tag("fake-cuda")
class PinnedHostPlanStorageTest {
    @BeforeEach
    void fakeRuntime() {
        assertTrue(FakeNative.cudartIsFake());
        FakeNative.cudartReset();
    }

    @Test
    void onePinnedAllocationPerSegmentZeroedLaidOutByThePlanAndFreedOnce() {
        BucketPlan plan = PlanStorageFixtures.unsplitPlan();
        long live = FakeNative.cudartLiveAllocations();
        HostPlanStorage storage = HostPlanStorage.allocate(plan, StorageSegments.ONE_PER_BUCKET, HostPlanStorage.Backing.PINNED);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaMallocHost"));
            assertEquals(live + plan.bucketCount(), FakeNative.cudartLiveAllocations());
            HostPlanStorageTest.assertLaidOutByPlan(storage);
            for (int b = 0; b < plan.bucketCount(); b++) {
                assertEquals(-1, storage.bucket(b).mismatch(arena.allocate(plan.bucketByteSize(b))), "bucket " + b + " zeroed");
            }
            MemorySegment[] contents = HostPlanStorageTest.fill(arena, storage);
            MemorySegment[] packed = PlanFixtures.packAll(arena, plan, contents);
            for (int b = 0; b < plan.bucketCount(); b++) {
                assertEquals(-1, storage.bucket(b).mismatch(packed[b].asSlice(0, plan.bucketByteSize(b))), "bucket " + b);
            }
        } finally {
            storage.close();
            storage.close();
        }
        assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaFreeHost"), "each freed exactly once");
        assertEquals(live, FakeNative.cudartLiveAllocations());
        assertThrows(IllegalStateException.class, () -> storage.tensor("big").segment().get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> storage.bucket(0).get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void oneSegmentMeetsALargeAlignmentWithSpareBytes() {
        BucketPlan plan = BucketPlanner.plan(PlanStorageFixtures.inventory(), 64 << 10, 4096);
        try (HostPlanStorage storage = HostPlanStorage.allocate(plan, StorageSegments.ONE_FOR_ALL_BUCKETS,
                HostPlanStorage.Backing.PINNED)) {
            assertEquals(1, FakeNative.cudartCallCount("cudaMallocHost"));
            HostPlanStorageTest.assertLaidOutByPlan(storage);
            long span = storage.bucket(plan.bucketCount() - 1).address() + plan.bucketByteSize(plan.bucketCount() - 1)
                    - storage.bucket(0).address();
            assertEquals(span + 4096 - 256, storage.allocatedBytes());
        }
    }
}
