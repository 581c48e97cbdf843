package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Host plan-layout storage in arena memory (pinned memory: PinnedHostPlanStorageTest). */
class HostPlanStorageTest {
    /** Writes every tensor's test contents into the storage's views and returns them. */
    static MemorySegment[] fill(Arena arena, HostPlanStorage storage) {
        MemorySegment[] contents = PlanFixtures.sources(arena, storage.plan().tensors());
        for (int t = 0; t < contents.length; t++) {
            storage.tensor(t).segment().copyFrom(contents[t]);
        }
        return contents;
    }

    static void assertLaidOutByPlan(HostPlanStorage storage) {
        PlanStorageFixtures.assertLaidOutByPlan(storage, b -> storage.bucket(b).address(),
                b -> storage.bucket(b).byteSize(), t -> storage.tensor(t).segment().address());
    }

    @Test
    void oneForAllBucketsHoldsSplitTensorsInOnePieceAtTheirPlannedPlaces() {
        try (HostPlanStorage storage = HostPlanStorage.allocate(PlanStorageFixtures.splitPlan())) {
            assertLaidOutByPlan(storage);
            BucketPlan plan = storage.plan();
            long spanned = storage.bucket(plan.bucketCount() - 1).address() + plan.bucketByteSize(plan.bucketCount() - 1)
                    - storage.bucket(0).address();
            assertEquals(spanned, storage.allocatedBytes(), "one allocation, the buckets at aligned starts");
            assertEquals(12_000, storage.tensor("big").segment().byteSize());
        }
    }

    @Test
    void onePerBucketAndLargeAlignmentsAreLaidOutExactlyToo() {
        try (HostPlanStorage perBucket = HostPlanStorage.allocate(PlanStorageFixtures.unsplitPlan(),
                StorageSegments.ONE_PER_BUCKET, HostPlanStorage.Backing.ARENA);
             HostPlanStorage aligned = HostPlanStorage.allocate(
                     BucketPlanner.plan(PlanStorageFixtures.inventory(), 64 << 10, 4096))) {
            assertLaidOutByPlan(perBucket);
            assertEquals(perBucket.plan().totalBucketBytes(), perBucket.allocatedBytes());
            assertLaidOutByPlan(aligned);
        }
    }

    @Test
    void bucketsStartZeroedAndHoldExactlyWhatPackingTheTensorsWouldProduce() {
        BucketPlan plan = PlanStorageFixtures.splitPlan();
        try (HostPlanStorage storage = HostPlanStorage.allocate(plan); Arena arena = Arena.ofConfined()) {
            for (int b = 0; b < plan.bucketCount(); b++) {
                assertEquals(-1, storage.bucket(b).mismatch(arena.allocate(plan.bucketByteSize(b))), "bucket " + b + " zeroed");
            }
            MemorySegment[] contents = fill(arena, storage);
            MemorySegment[] packed = PlanFixtures.packAll(arena, plan, contents);
            MemorySegment[] fromStorage = storage.tensorSegments().values().toArray(MemorySegment[]::new);
            for (int b = 0; b < plan.bucketCount(); b++) {
                MemorySegment expected = packed[b].asSlice(0, plan.bucketByteSize(b));
                assertEquals(-1, storage.bucket(b).mismatch(expected), "bucket " + b + ", zero padding included");
                MemorySegment repacked = arena.allocate(plan.bucketByteSize(b)).fill((byte) 0x77);
                HostBucketPacker.pack(plan, b, fromStorage, repacked);
                assertEquals(-1, repacked.mismatch(expected), "the packer takes the storage's tensors as sources");
            }
        }
    }

    @Test
    void aBucketCopiedStraightBetweenStoragesDeliversTypedTensors() {
        BucketPlan plan = PlanStorageFixtures.splitPlan();
        try (HostPlanStorage source = HostPlanStorage.allocate(plan);
             HostPlanStorage destination = HostPlanStorage.allocate(PlanCodec.decode(PlanCodec.encode(plan)));
             Arena arena = Arena.ofConfined()) {
            MemorySegment[] contents = fill(arena, source);
            HostTensorView big = source.tensor("big");
            for (int i = 0; i < 3000; i++) {
                big.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, i * 0.25f - 100);
            }
            assertTrue(destination.hasLayoutOf(source.plan()));

            for (int b = 0; b < plan.bucketCount(); b++) {
                MemorySegment.copy(source.bucket(b), 0, destination.bucket(b), 0, plan.bucketByteSize(b));
            }

            for (int t = 0; t < plan.tensorCount(); t++) {
                if (!plan.tensor(t).name().equals("big")) {
                    assertEquals(-1, destination.tensor(t).segment().mismatch(contents[t]), plan.tensor(t).toString());
                }
            }
            HostTensorView received = destination.tensor("big");
            assertEquals(DType.FLOAT32, received.dtype());
            for (int i = 0; i < 3000; i++) {
                assertEquals(i * 0.25f - 100, received.getFloat(i), "element " + i + " of the split tensor");
            }
        }
    }

    @Test
    void splitTensorsOneStorageCannotHoldAreRefusedWithAWayOut() {
        List<TensorSpec> inventory = List.of(new TensorSpec("x", DType.UINT8, 100), new TensorSpec("wide", DType.FLOAT32, 2000));
        BucketPlan split = BucketPlanner.plan(inventory, 4096, 256);
        IllegalArgumentException perBucket = assertThrows(IllegalArgumentException.class,
                () -> HostPlanStorage.allocate(split, StorageSegments.ONE_PER_BUCKET, HostPlanStorage.Backing.ARENA));
        assertEquals("tensor wide is split across buckets 0 to 2, and ONE_PER_BUCKET storage keeps each bucket in its own "
                + "allocation: use ONE_FOR_ALL_BUCKETS, or plan with BucketPlanner.LargeTensors.OWN_BUCKET, which never "
                + "splits a tensor", perBucket.getMessage());
        try (HostPlanStorage oneForAll = HostPlanStorage.allocate(split)) {
            assertLaidOutByPlan(oneForAll);
        }

        // A cap that is no multiple of the alignment leaves bucket 0 at 4000 bytes: the next one starts at 4096.
        BucketPlan unalignedCap = BucketPlanner.plan(inventory, 4000, 256);
        IllegalArgumentException oneForAll = assertThrows(IllegalArgumentException.class,
                () -> HostPlanStorage.allocate(unalignedCap));
        assertEquals("tensor wide is split across buckets 0 to 2, and its pieces are not adjacent in one segment: the "
                + "piece in bucket 0 ends at byte 4000, the next starts at byte 4096 (buckets start at multiples of the "
                + "alignment 256): plan with a cap that is a multiple of the alignment, or plan with "
                + "BucketPlanner.LargeTensors.OWN_BUCKET, which never splits a tensor", oneForAll.getMessage());

        try (HostPlanStorage replanned = HostPlanStorage.allocate(BucketPlanner.plan(inventory, 4000, 256,
                BucketPlanner.LargeTensors.OWN_BUCKET), StorageSegments.ONE_PER_BUCKET, HostPlanStorage.Backing.ARENA)) {
            assertLaidOutByPlan(replanned);
            assertEquals(8000, replanned.bucket(1).byteSize(), "the large tensor in a bucket of its own");
        }
    }

    @Test
    void closeIsIdempotentAndEveryViewAndBucketIsDeadAfterwards() {
        HostPlanStorage storage = HostPlanStorage.allocate(BucketPlanner.plan(List.of(new TensorSpec("w", DType.FLOAT32, 8),
                new TensorSpec("none", DType.INT8, 0)), 4096));
        HostTensorView weight = storage.tensor("w");
        MemorySegment bucket = storage.bucket(0);
        MemorySegment empty = storage.tensor("none").segment();
        assertEquals(0f, weight.getFloat(7));

        storage.close();
        storage.close();

        assertTrue(storage.isClosed());
        assertThrows(IllegalStateException.class, () -> weight.getFloat(0));
        assertThrows(IllegalStateException.class, () -> bucket.get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, () -> weight.segment().fill((byte) 1));
        assertFalse(empty.scope().isAlive(), "the empty tensor's segment is closed too");
    }

    @Test
    void viewsAreUsableFromAnyThread() throws Exception {
        try (HostPlanStorage storage = HostPlanStorage.allocate(PlanStorageFixtures.splitPlan())) {
            storage.tensor("tail").segment().fill((byte) 0x3F);

            byte read = CompletableFuture.supplyAsync(() -> storage.tensor("tail").segment().get(ValueLayout.JAVA_BYTE, 5)).get();

            assertEquals(0x3F, read);
        }
    }

    @Test
    void namesMapsAndAPlanWithoutBytes() {
        BucketPlan plan = PlanStorageFixtures.splitPlan();
        try (HostPlanStorage storage = HostPlanStorage.allocate(plan);
             HostPlanStorage nothing = HostPlanStorage.allocate(BucketPlanner.plan(List.of(), 4096))) {
            assertSame(storage.tensor(plan.indexOf("big")), storage.tensor("big"));
            assertThrows(IllegalArgumentException.class, () -> storage.tensor("nope"));
            assertEquals(plan.tensors().stream().map(TensorSpec::name).toList(),
                    List.copyOf(storage.tensorSegments().keySet()));
            assertEquals(MemoryKind.HOST, storage.memoryKind());
            assertEquals(HostPlanStorage.Backing.ARENA, storage.backing());
            assertEquals(0, nothing.allocatedBytes());
            assertTrue(nothing.tensors().isEmpty());
        }
    }
}
