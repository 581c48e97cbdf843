package io.github.panamanccl.bucket;

import io.github.panamanccl.DeviceMemory;

import java.util.Objects;

/**
 * A tensor in device memory: its spec, and an address and size to hand to native code. Its bytes cannot be read
 * or written from Java: copy them to or from host memory with the core API and use a {@link HostTensorView} there.
 * Made by {@link BucketPlan#deviceView} (inside a bucket) or {@link #of} (any device memory, e.g. a scatter
 * destination); it is itself {@link DeviceMemory}.
 */
public final class DeviceTensorView implements TensorView, DeviceMemory {
    private final TensorSpec spec;
    private final long offset;
    private final DeviceMemory memory;

    DeviceTensorView(TensorSpec spec, long offset, DeviceMemory memory) {
        this.spec = spec;
        this.offset = offset;
        this.memory = memory;
    }

    /**
     * A view of {@code memory} as {@code spec}.
     *
     * @throws IllegalArgumentException when the memory's size differs from the tensor's
     */
    public static DeviceTensorView of(TensorSpec spec, DeviceMemory memory) {
        Objects.requireNonNull(spec, "spec");
        if (memory.byteSize() != spec.byteSize()) {
            throw new IllegalArgumentException(spec.name() + " has " + spec.byteSize() + " bytes, the memory " + memory.byteSize());
        }
        return new DeviceTensorView(spec, 0, memory);
    }

    @Override
    public TensorSpec spec() {
        return spec;
    }

    @Override
    public long offset() {
        return offset;
    }

    @Override
    public MemoryKind memoryKind() {
        return MemoryKind.DEVICE;
    }

    @Override
    public long address() {
        return memory.address();
    }

    @Override
    public long byteSize() {
        return spec.byteSize();
    }

    @Override
    public DeviceMemory slice(long offset, long length) {
        return memory.slice(offset, length);
    }

    @Override
    public String toString() {
        return "DeviceTensorView[" + spec + " @" + offset + "]";
    }
}
