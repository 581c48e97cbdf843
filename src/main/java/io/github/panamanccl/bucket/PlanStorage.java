package io.github.panamanccl.bucket;

import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Memory laid out exactly as a {@link BucketPlan}: every bucket allocated (alone or with the others, see
 * {@link StorageSegments}) and every tensor a typed view at its planned offset, aligned as the plan says. The
 * application keeps its weights in these views; a bucket's bytes then are exactly what packing the tensors would
 * produce (padding stays zero), so a transfer can move a bucket straight from and into the storage, with no pack
 * and no scatter copy.
 *
 * <p>A weight-sync path recognises storage by being handed it (not a map of tensors) and checks
 * {@link #hasLayoutOf} against the plan it syncs. {@link #close()} frees the memory, idempotently; every view and
 * bucket with bytes is unusable afterwards. Immutable and thread-safe.
 *
 * @param <V> the tensor view type: {@link HostTensorView} or {@link DeviceTensorView}
 */
public abstract sealed class PlanStorage<V extends TensorView> implements AutoCloseable
        permits HostPlanStorage, DevicePlanStorage {
    private final BucketPlan plan;
    private final StorageSegments segments;
    private final List<V> tensors;
    private final long allocatedBytes;
    private final AtomicBoolean closed = new AtomicBoolean();

    PlanStorage(BucketPlan plan, StorageSegments segments, List<V> tensors, long allocatedBytes) {
        this.plan = plan;
        this.segments = segments;
        this.tensors = Collections.unmodifiableList(tensors);
        this.allocatedBytes = allocatedBytes;
    }

    /** The plan this storage is laid out by. */
    public final BucketPlan plan() {
        return plan;
    }

    /** How the buckets are divided among allocations. */
    public final StorageSegments segments() {
        return segments;
    }

    /** Host or device. */
    public abstract MemoryKind memoryKind();

    /** Bytes allocated, padding between buckets and alignment slack included. */
    public final long allocatedBytes() {
        return allocatedBytes;
    }

    /** Tensor {@code index} of the plan. */
    public final V tensor(int index) {
        return tensors.get(index);
    }

    /**
     * The tensor named {@code name}.
     *
     * @throws IllegalArgumentException when the plan has no such tensor
     */
    public final V tensor(String name) {
        int index = plan.indexOf(name);
        if (index < 0) {
            throw new IllegalArgumentException("no tensor named " + name + " in " + plan);
        }
        return tensors.get(index);
    }

    /** Every tensor, in plan order (unmodifiable). */
    public final List<V> tensors() {
        return tensors;
    }

    /**
     * Whether this storage is laid out by a plan equal to {@code plan} (for example one decoded from a peer), so its
     * buckets can be transferred as they are.
     */
    public final boolean hasLayoutOf(BucketPlan plan) {
        return this.plan.equals(plan);
    }

    /** Whether {@link #close()} was called. */
    public final boolean isClosed() {
        return closed.get();
    }

    /** Frees the memory; later calls do nothing. */
    @Override
    public final void close() {
        if (closed.compareAndSet(false, true)) {
            RuntimeException failure = free();
            if (failure != null) {
                throw failure;
            }
        }
    }

    /** Frees every allocation, once; returns the first failure (the others suppressed in it), or null. */
    abstract RuntimeException free();

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + plan + ", " + segments + ", " + allocatedBytes + " bytes"
                + (isClosed() ? ", closed]" : "]");
    }
}
