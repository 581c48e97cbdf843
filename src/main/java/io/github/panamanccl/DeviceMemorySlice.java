package io.github.panamanccl;

/** A view into other device memory; its address is checked against the owner's lifetime on every use. */
final class DeviceMemorySlice implements DeviceMemory {
    private final DeviceMemory owner;
    private final long offset;
    private final long byteSize;

    DeviceMemorySlice(DeviceMemory owner, long offset, long byteSize) {
        Ranges.check("slice", offset, byteSize, owner.byteSize());
        this.owner = owner;
        this.offset = offset;
        this.byteSize = byteSize;
    }

    @Override
    public long address() {
        return owner.address() + offset;
    }

    @Override
    public long byteSize() {
        return byteSize;
    }

    @Override
    public DeviceMemory slice(long offset, long length) {
        Ranges.check("slice", offset, length, byteSize);
        return new DeviceMemorySlice(owner, this.offset + offset, length);
    }

    @Override
    public String toString() {
        return "slice[" + offset + ", +" + byteSize + "] of " + owner;
    }
}
