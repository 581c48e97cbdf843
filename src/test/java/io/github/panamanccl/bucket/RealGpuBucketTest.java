package io.github.panamanccl.bucket;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.PinnedHostBuffer;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device packer on a real GPU: batched copies mixing device sources, pinned host sources and the pinned zero
 * buffer give the same bucket bytes as the host packer, and scatter restores every tensor. Tag {@code gpu}.
 */
@Tag("gpu")
class RealGpuBucketTest {
    @BeforeAll
    static void realGpu() {
        assertFalse(FakeNative.cudartIsFake(), "needs the real CUDA runtime, not the fake");
        assertTrue(Cuda.deviceCount() >= 1, "needs a GPU");
        Cuda.setDevice(0);
    }

    /** Odd sizes (so padding), every dtype, splits: a random inventory plus a scaled Qwen3-Next. */
    private static List<TensorSpec> inventory() {
        List<TensorSpec> tensors = new ArrayList<>(PlanFixtures.randomInventory(new Random(7), 300, 40));
        for (TensorSpec tensor : DemoInventories.load("qwen3-next-80b-a3b").scaledToFit(256L << 20).tensors()) {
            tensors.add(new TensorSpec("next." + tensor.name(), tensor.dtype(), tensor.shape()));
        }
        return tensors;
    }

    @Test
    void devicePackAndScatterMatchTheHostPath() {
        List<TensorSpec> inventory = inventory();
        BucketPlan plan = BucketPlanner.plan(inventory, 16L << 20);
        assertTrue(plan.bucketCount() > 10, plan.toString());
        long[] offsets = new long[inventory.size()];
        long total = 0;
        for (int t = 0; t < offsets.length; t++) {
            offsets[t] = total;
            total += (inventory.get(t).byteSize() + 255) & -256L;
        }
        try (Arena arena = Arena.ofConfined();
             DeviceBuffer deviceSources = DeviceBuffer.allocate(total);
             PinnedHostBuffer pinnedSources = PinnedHostBuffer.allocate(total);
             DeviceBuffer destinations = DeviceBuffer.allocate(total);
             DeviceBuffer bucket = DeviceBuffer.allocate(plan.maxBucketByteSize());
             CudaStream stream = CudaStream.create();
             DeviceBucketPacker packer = DeviceBucketPacker.create(plan)) {
            MemorySegment hostAll = arena.allocate(total, 256);
            MemorySegment[] sources = new MemorySegment[offsets.length];
            long[] sourceAddresses = new long[offsets.length];
            long[] destinationAddresses = new long[offsets.length];
            for (int t = 0; t < offsets.length; t++) {
                sources[t] = hostAll.asSlice(offsets[t], inventory.get(t).byteSize())
                        .copyFrom(PlanFixtures.contents(arena, inventory.get(t), t));
                // Even tensors come from device memory, odd ones straight from pinned host memory.
                sourceAddresses[t] = (t % 2 == 0 ? deviceSources.address() : pinnedSources.address()) + offsets[t];
                destinationAddresses[t] = destinations.address() + offsets[t];
            }
            deviceSources.copyFromHost(hostAll, 0);
            pinnedSources.segment().copyFrom(hostAll);
            destinations.memset(0x5A);
            MemorySegment[] hostBuckets = PlanFixtures.packAll(arena, plan, sources);
            MemorySegment copy = arena.allocate(plan.maxBucketByteSize());
            for (int b = 0; b < plan.bucketCount(); b++) {
                bucket.memset(0xA5);
                packer.pack(b, sourceAddresses, bucket, stream);
                packer.scatter(b, bucket, destinationAddresses, stream);
                stream.synchronize();
                MemorySegment packed = copy.asSlice(0, plan.bucketByteSize(b));
                bucket.copyToHost(0, packed);
                assertEquals(-1, packed.mismatch(hostBuckets[b].asSlice(0, plan.bucketByteSize(b))), "bucket " + b);
            }
            MemorySegment restored = arena.allocate(total);
            destinations.copyToHost(0, restored);
            for (int t = 0; t < offsets.length; t++) {
                assertEquals(-1, restored.asSlice(offsets[t], inventory.get(t).byteSize()).mismatch(sources[t]),
                        "tensor " + inventory.get(t));
            }
        }
    }
}
