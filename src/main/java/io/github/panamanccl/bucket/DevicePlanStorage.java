package io.github.panamanccl.bucket;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Device memory laid out by a plan ({@link PlanStorage}): one cudaMalloc per segment on the current device, zeroed
 * with one cudaMemset each, so padding is zero and fresh weights read as 0. Each tensor is a
 * {@link DeviceTensorView} at its planned offset, whose address is a multiple of the plan's alignment (beyond the
 * 256 bytes cudaMalloc guarantees, each segment takes that many more bytes to align itself); each bucket is
 * {@link #bucket(int)}: exactly the device bytes a broadcast of it sends or receives.
 *
 * <p>After {@link #close()} (cudaFree of every segment) the address of every view with bytes and of every bucket
 * throws IllegalStateException; close only once no stream still uses the memory.
 */
public final class DevicePlanStorage extends PlanStorage<DeviceTensorView> {
    /** The alignment of every cudaMalloc address (CUDA C++ Programming Guide, "Device Memory Accesses"). */
    static final long CUDA_MALLOC_ALIGNMENT = 256;
    /** The memory of empty tensors when the plan has no bytes at all. */
    private static final DeviceMemory NO_MEMORY = new DeviceMemory() {
        @Override
        public long address() {
            return 0;
        }

        @Override
        public long byteSize() {
            return 0;
        }

        @Override
        public DeviceMemory slice(long offset, long length) {
            Objects.checkFromIndexSize(offset, length, 0);
            return this;
        }
    };

    private final int device;
    private final DeviceBuffer[] allocations;
    private final DeviceMemory[] buckets;

    private DevicePlanStorage(BucketPlan plan, StorageSegments segments, int device, DeviceBuffer[] allocations,
                              DeviceMemory[] buckets, List<DeviceTensorView> tensors) {
        super(plan, segments, tensors, Arrays.stream(allocations).mapToLong(DeviceBuffer::byteSize).sum());
        this.device = device;
        this.allocations = allocations;
        this.buckets = buckets;
    }

    /** {@link #allocate(BucketPlan, StorageSegments)} in one segment for all buckets. */
    public static DevicePlanStorage allocate(BucketPlan plan) {
        return allocate(plan, StorageSegments.ONE_FOR_ALL_BUCKETS);
    }

    /**
     * Allocates and zeroes storage for {@code plan} on the current device: one cudaMalloc and one cudaMemset per
     * segment (none for a plan without bytes), one cudaGetDevice. On failure everything allocated is freed.
     *
     * @throws IllegalArgumentException naming a split tensor the segments cannot hold in one piece, before any
     *                                  allocation
     */
    public static DevicePlanStorage allocate(BucketPlan plan, StorageSegments segments) {
        StorageLayout layout = StorageLayout.of(plan, segments);
        int device = Cuda.currentDevice();
        long slack = layout.slack(CUDA_MALLOC_ALIGNMENT);
        DeviceBuffer[] allocations = new DeviceBuffer[layout.segmentCount()];
        DeviceMemory[] bases = new DeviceMemory[allocations.length];
        try {
            for (int s = 0; s < allocations.length; s++) {
                allocations[s] = DeviceBuffer.allocate(layout.segmentBytes(s) + slack);
                allocations[s].memset(0);
                bases[s] = allocations[s].slice(layout.basePadding(allocations[s].address(), slack), layout.segmentBytes(s));
            }
        } catch (RuntimeException failure) {
            RuntimeException freeing = free(allocations);
            if (freeing != null) {
                failure.addSuppressed(freeing);
            }
            throw failure;
        }
        DeviceMemory[] buckets = new DeviceMemory[plan.bucketCount()];
        for (int b = 0; b < buckets.length; b++) {
            buckets[b] = bases[layout.bucketSegment(b)].slice(layout.bucketOffset(b), plan.bucketByteSize(b));
        }
        // An empty tensor sits at the start of the first segment, and dies with it.
        DeviceMemory empty = bases.length == 0 ? NO_MEMORY : bases[0].slice(0, 0);
        List<DeviceTensorView> tensors = new ArrayList<>(plan.tensorCount());
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            tensors.add(spec.byteSize() == 0 ? new DeviceTensorView(spec, 0, empty)
                    : new DeviceTensorView(spec, layout.tensorOffsetInBucket(t),
                            bases[layout.tensorSegment(t)].slice(layout.tensorOffset(t), spec.byteSize())));
        }
        return new DevicePlanStorage(plan, segments, device, allocations, buckets, tensors);
    }

    /** Frees every allocation made (null entries were not); returns the first failure, the others suppressed in it. */
    private static RuntimeException free(DeviceBuffer[] allocations) {
        return Closers.closeAll(Arrays.stream(allocations).filter(Objects::nonNull).<Runnable>map(a -> a::close).toList());
    }

    @Override
    RuntimeException free() {
        return free(allocations);
    }

    @Override
    public MemoryKind memoryKind() {
        return MemoryKind.DEVICE;
    }

    /** The device the memory was allocated on. */
    public int device() {
        return device;
    }

    /** Number of device allocations: 1, one per bucket, or 0 for a plan without bytes. */
    public int allocationCount() {
        return allocations.length;
    }

    /** Bucket {@code bucket}'s device memory, exactly {@code plan().bucketByteSize(bucket)} bytes. */
    public DeviceMemory bucket(int bucket) {
        return buckets[Objects.checkIndex(bucket, buckets.length)];
    }

    /**
     * The tensors by name, in plan order (unmodifiable): what {@code WeightSender.Builder.deviceSources} and
     * {@code WeightReceiver.Builder.scatterIntoDevice} take.
     */
    public Map<String, DeviceMemory> tensorMemory() {
        Map<String, DeviceMemory> byName = new LinkedHashMap<>();
        for (DeviceTensorView view : tensors()) {
            byName.put(view.name(), view);
        }
        return Collections.unmodifiableMap(byName);
    }

    @Override
    public String toString() {
        return super.toString() + " on device " + device;
    }
}
