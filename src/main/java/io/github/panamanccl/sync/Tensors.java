package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.TensorSpec;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.IntFunction;
import java.util.function.ToLongFunction;

/** Matches application tensors (by name) to a plan's tensor indices, checking names and sizes. */
final class Tensors {
    /** A thread that owns nothing: segments it may access are accessible from any thread. */
    private static final Thread ANOTHER_THREAD = Thread.ofPlatform().unstarted(() -> { });

    private Tensors() {
    }

    /**
     * A copy of {@code byName}, checked to be usable from the sync's own threads (the packer, the data plane, any
     * thread that calls {@code awaitUpdate}): every segment alive and not confined to one thread.
     *
     * @param role e.g. {@code "hostSources"}, for the message
     * @throws IllegalArgumentException naming the tensor, what is wrong and the arenas that work
     */
    static Map<String, MemorySegment> shareable(Map<String, MemorySegment> byName, String role) {
        Map<String, MemorySegment> copy = Map.copyOf(byName);
        for (Map.Entry<String, MemorySegment> tensor : new TreeMap<>(copy).entrySet()) {
            MemorySegment segment = tensor.getValue();
            if (!segment.scope().isAlive()) {
                throw new IllegalArgumentException(role + ": the segment of tensor " + tensor.getKey()
                        + " belongs to an arena that is already closed");
            }
            if (!segment.isAccessibleBy(ANOTHER_THREAD)) {
                throw new IllegalArgumentException(role + ": the segment of tensor " + tensor.getKey()
                        + " is confined to one thread (Arena.ofConfined()), but the sync copies it on threads of its"
                        + " own. Allocate it from Arena.ofShared(), Arena.ofAuto() or Arena.global(), or use a heap"
                        + " segment (MemorySegment.ofArray)");
            }
        }
        return copy;
    }

    /**
     * One segment per plan tensor (index = tensor index).
     *
     * @throws IllegalArgumentException naming missing, unknown or wrongly sized tensors
     */
    static MemorySegment[] resolve(BucketPlan plan, Map<String, MemorySegment> byName, String role) {
        return resolve(plan, byName, role, MemorySegment::byteSize, MemorySegment[]::new);
    }

    /** One device address per plan tensor (index = tensor index), checked like {@link #resolve}. */
    static long[] resolveDevice(BucketPlan plan, Map<String, DeviceMemory> byName, String role) {
        return Arrays.stream(resolve(plan, byName, role, DeviceMemory::byteSize, DeviceMemory[]::new))
                .mapToLong(DeviceMemory::address).toArray();
    }

    private static <T> T[] resolve(BucketPlan plan, Map<String, T> byName, String role, ToLongFunction<T> byteSize,
            IntFunction<T[]> newArray) {
        T[] resolved = newArray.apply(plan.tensorCount());
        Set<String> unknown = new TreeSet<>(byName.keySet());
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            T tensor = byName.get(spec.name());
            if (tensor == null) {
                throw new IllegalArgumentException("no " + role + " for tensor " + spec.name() + " of the plan");
            }
            long size = byteSize.applyAsLong(tensor);
            if (size != spec.byteSize()) {
                throw new IllegalArgumentException(role + " for tensor " + spec.name() + " has " + size
                        + " bytes, the plan says " + spec.byteSize() + " (" + spec.dtype().torchName() + " "
                        + spec.shapeString() + ")");
            }
            resolved[t] = tensor;
            unknown.remove(spec.name());
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(role + "s for tensors not in the plan: " + unknown);
        }
        return resolved;
    }
}
