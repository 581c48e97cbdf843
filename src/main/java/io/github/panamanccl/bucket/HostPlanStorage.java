package io.github.panamanccl.bucket;

import io.github.panamanccl.PinnedHostBuffer;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Host memory laid out by a plan ({@link PlanStorage}), zeroed, so padding is zero and fresh weights read as 0. Each
 * tensor is a {@link HostTensorView} at its planned offset, whose address is a multiple of the plan's alignment; each
 * bucket is {@link #bucket(int)}: exactly the bytes a transfer of it sends or receives. Every segment is accessible
 * from any thread.
 *
 * <p>After {@link #close()} the segment of every view with bytes and of every bucket is no longer accessible: reads
 * and writes throw IllegalStateException.
 */
public final class HostPlanStorage extends PlanStorage<HostTensorView> {
    /** What backs the segments. */
    public enum Backing {
        /** Native memory from a shared {@link Arena}: no CUDA runtime needed (the host TCP transport's case). */
        ARENA,
        /**
         * Page-locked memory from cudaMallocHost ({@link PinnedHostBuffer}): the fast source and target of
         * asynchronous device copies; needs the CUDA runtime.
         */
        PINNED
    }

    /** The alignment relied on for cudaMallocHost addresses: cudaMalloc's (they are page-aligned in practice). */
    private static final long PINNED_ALIGNMENT = DevicePlanStorage.CUDA_MALLOC_ALIGNMENT;

    private final Backing backing;
    /** Owns the ARENA segments. */
    private final Arena arena;
    private final PinnedHostBuffer[] pinned;
    private final MemorySegment[] buckets;

    private HostPlanStorage(BucketPlan plan, StorageSegments segments, Backing backing, Arena arena,
                            PinnedHostBuffer[] pinned, MemorySegment[] buckets, List<HostTensorView> tensors,
                            long allocatedBytes) {
        super(plan, segments, tensors, allocatedBytes);
        this.backing = backing;
        this.arena = arena;
        this.pinned = pinned;
        this.buckets = buckets;
    }

    /** {@link #allocate(BucketPlan, StorageSegments, Backing)} in one arena segment for all buckets. */
    public static HostPlanStorage allocate(BucketPlan plan) {
        return allocate(plan, StorageSegments.ONE_FOR_ALL_BUCKETS, Backing.ARENA);
    }

    /**
     * Allocates zeroed storage for {@code plan}: one arena allocation, or one cudaMallocHost, per segment (none for a
     * plan without bytes). On failure everything allocated is freed.
     *
     * @throws IllegalArgumentException naming a split tensor the segments cannot hold in one piece, before any
     *                                  allocation
     */
    public static HostPlanStorage allocate(BucketPlan plan, StorageSegments segments, Backing backing) {
        StorageLayout layout = StorageLayout.of(plan, segments);
        Objects.requireNonNull(backing, "backing");
        Arena arena = Arena.ofShared();
        PinnedHostBuffer[] pinned = new PinnedHostBuffer[backing == Backing.PINNED ? layout.segmentCount() : 0];
        MemorySegment[] bases = new MemorySegment[layout.segmentCount()];
        long slack = layout.slack(PINNED_ALIGNMENT);
        long allocated = 0;
        try {
            for (int s = 0; s < bases.length; s++) {
                long bytes = layout.segmentBytes(s);
                if (backing == Backing.ARENA) {
                    bases[s] = arena.allocate(bytes, plan.alignment()); // zeroed by the arena
                    allocated += bytes;
                } else {
                    pinned[s] = PinnedHostBuffer.allocate(bytes + slack);
                    MemorySegment all = pinned[s].segment().fill((byte) 0);
                    bases[s] = all.asSlice(layout.basePadding(all.address(), slack), bytes);
                    allocated += all.byteSize();
                }
            }
        } catch (RuntimeException failure) {
            RuntimeException freeing = free(arena, pinned);
            if (freeing != null) {
                failure.addSuppressed(freeing);
            }
            throw failure;
        }
        MemorySegment[] buckets = new MemorySegment[plan.bucketCount()];
        for (int b = 0; b < buckets.length; b++) {
            buckets[b] = bases[layout.bucketSegment(b)].asSlice(layout.bucketOffset(b), plan.bucketByteSize(b));
        }
        // An empty tensor sits at the start of the first segment, and dies with it.
        MemorySegment empty = bases.length == 0 ? MemorySegment.NULL : bases[0].asSlice(0, 0);
        List<HostTensorView> tensors = new ArrayList<>(plan.tensorCount());
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            tensors.add(spec.byteSize() == 0 ? new HostTensorView(spec, 0, empty)
                    : new HostTensorView(spec, layout.tensorOffsetInBucket(t),
                            bases[layout.tensorSegment(t)].asSlice(layout.tensorOffset(t), spec.byteSize())));
        }
        return new HostPlanStorage(plan, segments, backing, arena, pinned, buckets, tensors, allocated);
    }

    /** Closes the arena and every pinned buffer allocated; returns the first failure, the others suppressed in it. */
    private static RuntimeException free(Arena arena, PinnedHostBuffer[] pinned) {
        List<Runnable> closers = new ArrayList<>(List.of(arena::close));
        for (PinnedHostBuffer buffer : pinned) {
            if (buffer != null) {
                closers.add(buffer::close);
            }
        }
        return Closers.closeAll(closers);
    }

    @Override
    RuntimeException free() {
        return free(arena, pinned);
    }

    @Override
    public MemoryKind memoryKind() {
        return MemoryKind.HOST;
    }

    /** What backs the segments. */
    public Backing backing() {
        return backing;
    }

    /** Bucket {@code bucket}'s bytes, exactly {@code plan().bucketByteSize(bucket)} of them. */
    public MemorySegment bucket(int bucket) {
        return buckets[Objects.checkIndex(bucket, buckets.length)];
    }

    /**
     * The tensors' segments by name, in plan order (unmodifiable): what {@code WeightSender.Builder.hostSources} and
     * {@code WeightReceiver.Builder.scatterInto} take.
     */
    public Map<String, MemorySegment> tensorSegments() {
        Map<String, MemorySegment> byName = new LinkedHashMap<>();
        for (HostTensorView view : tensors()) {
            byName.put(view.name(), view.segment());
        }
        return Collections.unmodifiableMap(byName);
    }

    @Override
    public String toString() {
        return super.toString() + " in " + backing + " memory";
    }
}
