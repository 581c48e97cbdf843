package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.TensorSpec;

import io.github.panamanccl.DeviceMemory;

import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/** Matches application tensors (by name) to a plan's tensor indices, checking names and sizes. */
final class Tensors {
    private Tensors() {
    }

    /** One device address per plan tensor (index = tensor index), checked like {@link #resolve}. */
    static long[] resolveDevice(BucketPlan plan, Map<String, DeviceMemory> byName, String role) {
        long[] addresses = new long[plan.tensorCount()];
        Set<String> unknown = new TreeSet<>(byName.keySet());
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            DeviceMemory memory = byName.get(spec.name());
            if (memory == null) {
                throw new IllegalArgumentException("no " + role + " for tensor " + spec.name() + " of the plan");
            }
            if (memory.byteSize() != spec.byteSize()) {
                throw new IllegalArgumentException(role + " for tensor " + spec.name() + " has " + memory.byteSize()
                        + " bytes, the plan says " + spec.byteSize());
            }
            addresses[t] = memory.address();
            unknown.remove(spec.name());
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(role + "s for tensors not in the plan: " + unknown);
        }
        return addresses;
    }

    /**
     * One segment per plan tensor (index = tensor index).
     *
     * @throws IllegalArgumentException naming missing, unknown or wrongly sized tensors
     */
    static MemorySegment[] resolve(BucketPlan plan, Map<String, MemorySegment> byName, String role) {
        MemorySegment[] resolved = new MemorySegment[plan.tensorCount()];
        Set<String> unknown = new TreeSet<>(byName.keySet());
        for (int t = 0; t < plan.tensorCount(); t++) {
            TensorSpec spec = plan.tensor(t);
            MemorySegment segment = byName.get(spec.name());
            if (segment == null) {
                throw new IllegalArgumentException("no " + role + " for tensor " + spec.name() + " of the plan");
            }
            if (segment.byteSize() != spec.byteSize()) {
                throw new IllegalArgumentException(role + " for tensor " + spec.name() + " has " + segment.byteSize()
                        + " bytes, the plan says " + spec.byteSize() + " (" + spec.dtype().torchName() + " "
                        + spec.shapeString() + ")");
            }
            resolved[t] = segment;
            unknown.remove(spec.name());
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(role + "s for tensors not in the plan: " + unknown);
        }
        return resolved;
    }
}
