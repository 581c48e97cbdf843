package io.github.panamanccl.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.LibraryStatus;
import io.github.panamanccl.NativeLibraries;
import io.github.panamanccl.NativeLibrary;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DeviceBucketPacker;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.cli.ModelInventories;

/**
 * A scaled inventory in GPU memory for the Gpu* benchmarks: one cudaMalloc per tensor (as a framework holds
 * weights), the bucket plan, the library's {@link DeviceBucketPacker} (one cudaMemcpyBatchAsync per bucket), two
 * bucket buffers used alternately, and every piece's addresses for the per-tensor baseline. Construction fails
 * fast, with the reason, where there is no GPU.
 */
final class GpuModel implements AutoCloseable {
    final Inventory inventory;
    final BucketPlan plan;
    final List<DeviceBuffer> tensors = new ArrayList<>();
    final DeviceBuffer[] bucketBuffers = new DeviceBuffer[2];
    final CudaStream stream;
    final DeviceBucketPacker packer;
    final long[] tensorAddresses;
    /** Per bucket: destination addresses (in its bucket buffer), source addresses, sizes of its pieces. */
    final long[][] packDestinations;
    final long[][] packSources;
    final long[][] packSizes;

    GpuModel(String inventoryName, long modelBytes, long bucketBytes, boolean needsNccl) {
        requireGpu(needsNccl);
        Cuda.setDevice(0);
        inventory = ModelInventories.load(inventoryName).scaledToFit(modelBytes);
        plan = BucketPlanner.plan(inventory.tensors(), bucketBytes);
        try {
            allocateTensors(plan, tensors);
            for (int b = 0; b < bucketBuffers.length; b++) {
                bucketBuffers[b] = DeviceBuffer.allocate(plan.maxBucketByteSize());
            }
            stream = CudaStream.create();
            packer = DeviceBucketPacker.create(plan);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
        tensorAddresses = tensors.stream().mapToLong(DeviceBuffer::address).toArray();
        packDestinations = new long[plan.bucketCount()][];
        packSources = new long[plan.bucketCount()][];
        packSizes = new long[plan.bucketCount()][];
        for (int b = 0; b < plan.bucketCount(); b++) {
            List<BucketPlan.Piece> pieces = plan.piecesIn(b);
            long bufferAddress = bucketBuffer(b).address();
            packDestinations[b] = new long[pieces.size()];
            packSources[b] = new long[pieces.size()];
            packSizes[b] = new long[pieces.size()];
            for (int p = 0; p < pieces.size(); p++) {
                BucketPlan.Piece piece = pieces.get(p);
                packDestinations[b][p] = bufferAddress + piece.bucketOffset();
                packSources[b][p] = tensors.get(piece.tensor()).address() + piece.tensorOffset();
                packSizes[b][p] = piece.length();
            }
        }
        Cuda.synchronize();
    }

    /** The plan of the named inventory scaled to {@code modelBytes} (as torch_peer.py scales it), in buckets of {@code bucketBytes}. */
    static BucketPlan plan(String inventoryName, long modelBytes, long bucketBytes) {
        return BucketPlanner.plan(ModelInventories.load(inventoryName).scaledToFit(modelBytes).tensors(), bucketBytes);
    }

    /**
     * One cudaMalloc per tensor of {@code plan}, in plan order, each filled with a byte of its own, added to
     * {@code into} as they are made (so that the caller frees what was made when one fails).
     */
    static void allocateTensors(BucketPlan plan, List<DeviceBuffer> into) {
        for (int t = 0; t < plan.tensorCount(); t++) {
            DeviceBuffer tensor = DeviceBuffer.allocate(Math.max(1, plan.tensor(t).byteSize()));
            into.add(tensor);
            tensor.memset(t & 0xFF);
        }
    }

    /** The plan's tensors (from {@link #allocateTensors}) by name, each exactly its tensor's size. */
    static Map<String, DeviceMemory> byName(BucketPlan plan, List<DeviceBuffer> tensors) {
        Map<String, DeviceMemory> byName = new LinkedHashMap<>();
        for (int t = 0; t < plan.tensorCount(); t++) {
            byName.put(plan.tensor(t).name(), tensors.get(t).slice(0, plan.tensor(t).byteSize()));
        }
        return byName;
    }

    /** Buckets alternate between two buffers; stream order keeps a buffer from being refilled while in use. */
    DeviceBuffer bucketBuffer(int bucket) {
        return bucketBuffers[bucket % bucketBuffers.length];
    }

    /** Packs bucket {@code bucket} into its buffer with exactly one cudaMemcpyBatchAsync (padding zeroed in it). */
    void pack(int bucket) {
        packer.pack(bucket, tensorAddresses, bucketBuffer(bucket), stream);
    }

    static void requireGpu(boolean needsNccl) {
        LibraryStatus cudart = NativeLibraries.status(NativeLibrary.CUDART);
        if (!cudart.available()) {
            throw new IllegalStateException("GPU benchmark skipped: libcudart.so.13 not found: " + cudart.cause());
        }
        Cuda.DeviceProbe devices = Cuda.probeDevices();
        if (devices.count() == 0) {
            throw new IllegalStateException("GPU benchmark skipped: no CUDA device ("
                    + devices.cause().map(Throwable::getMessage).orElse("count is 0") + ")");
        }
        if (needsNccl) {
            LibraryStatus nccl = NativeLibraries.status(NativeLibrary.NCCL);
            if (!nccl.available()) {
                throw new IllegalStateException("GPU benchmark skipped: libnccl.so.2 not found: " + nccl.cause());
            }
        }
    }

    @Override
    public void close() {
        Closeables.closeAll(packer, stream);
        Closeables.closeAll(bucketBuffers);
        tensors.forEach(DeviceBuffer::close);
        tensors.clear();
    }
}
