package io.github.panamanccl.bucket;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.PinnedHostBuffer;

import java.util.Arrays;
import java.util.Objects;

/**
 * Packs tensors into a device bucket, and scatters a device bucket into tensors, with exactly one
 * {@link Cuda#memcpyBatchAsync} per bucket and call, ordered on the given stream.
 *
 * <p>Padding: a packed bucket is byte-deterministic because its gaps are copied, in the same batch, from a small
 * zero-filled pinned host buffer owned by the packer (filled from Java once, so zeroing needs neither a memset
 * call nor a synchronisation). Plans made by {@link BucketPlanner} have gaps below the alignment; the buffer holds
 * the largest gap up to {@value #ZERO_CHUNK_BYTES} bytes, and longer gaps take several copies from it. It is
 * allocated by the first {@link #pack} of a bucket with padding (one cudaMallocHost), so a packer that only
 * scatters, as on a receiver, never holds one.
 *
 * <p>Addresses: {@code tensorAddresses[t]} is where tensor {@code t}'s bytes start, in device memory or pinned
 * (page-locked) host memory; it must span the tensor's byte size. Entries of tensors without a piece in the
 * bucket are not read and may be 0. The copies are asynchronous: sources, destinations and the packer must stay
 * alive until {@code stream} has passed the call (wait for it, or record an event, before reusing a buffer).
 *
 * <p>A split tensor is complete in its destination once every bucket holding one of its pieces has been scattered.
 * Thread-safe; {@link #close()} is idempotent and must follow the completion of every stream that used the packer.
 */
public final class DeviceBucketPacker implements AutoCloseable {
    static final long ZERO_CHUNK_BYTES = 64 << 10;

    private final BucketPlan plan;
    /** Number of batch entries of {@link #pack} per bucket: pieces plus zero-fill copies. */
    private final int[] packEntries;
    private final long zeroChunk;
    /** Guards {@link #zeros} and {@link #closed}. */
    private final Object zerosLock = new Object();
    private PinnedHostBuffer zeros;
    private boolean closed;

    private DeviceBucketPacker(BucketPlan plan, int[] packEntries, long zeroChunk) {
        this.plan = plan;
        this.packEntries = packEntries;
        this.zeroChunk = zeroChunk;
    }

    /** A packer for {@code plan}; makes no native call. */
    public static DeviceBucketPacker create(BucketPlan plan) {
        long maxGap = 0;
        for (int b = 0; b < plan.bucketCount(); b++) {
            long cursor = 0;
            for (int p = plan.firstPieceOfBucket(b), to = plan.firstPieceOfBucket(b + 1); p < to; p++) {
                maxGap = Math.max(maxGap, plan.pieceOffset(p) - cursor);
                cursor = plan.pieceOffset(p) + plan.pieceLength(p);
            }
        }
        long zeroChunk = Math.min(maxGap, ZERO_CHUNK_BYTES);
        int[] entries = new int[plan.bucketCount()];
        for (int b = 0; b < entries.length; b++) {
            long count = 0;
            long cursor = 0;
            for (int p = plan.firstPieceOfBucket(b), to = plan.firstPieceOfBucket(b + 1); p < to; p++) {
                long gap = plan.pieceOffset(p) - cursor;
                count += 1 + (gap == 0 ? 0 : Math.ceilDiv(gap, zeroChunk));
                cursor = plan.pieceOffset(p) + plan.pieceLength(p);
            }
            entries[b] = Math.toIntExact(count);
        }
        return new DeviceBucketPacker(plan, entries, zeroChunk);
    }

    /** The plan this packer follows. */
    public BucketPlan plan() {
        return plan;
    }

    /**
     * Enqueues the copies of bucket {@code bucket}'s pieces from the tensors into {@code bucketMemory}, and zeros into
     * its padding: one cudaMemcpyBatchAsync on {@code stream} (the first bucket with padding also allocates the
     * zero buffer).
     *
     * @param tensorAddresses one address per tensor of the plan (index = tensor index)
     * @param bucketMemory    at least {@code plan().bucketByteSize(bucket)} bytes of device memory
     */
    public void pack(int bucket, long[] tensorAddresses, DeviceMemory bucketMemory, CudaStream stream) {
        checkArguments(bucket, tensorAddresses, bucketMemory, stream);
        long base = bucketMemory.address();
        int n = packEntries[bucket];
        long[] dst = new long[n];
        long[] src = new long[n];
        long[] sizes = new long[n];
        int e = 0;
        long cursor = 0;
        long zerosAddress = 0;
        for (int p = plan.firstPieceOfBucket(bucket), to = plan.firstPieceOfBucket(bucket + 1); p < to; p++) {
            long offset = plan.pieceOffset(p);
            for (; cursor < offset; e++) {
                if (zerosAddress == 0) {
                    zerosAddress = zerosAddress();
                }
                long length = Math.min(zeroChunk, offset - cursor);
                dst[e] = base + cursor;
                src[e] = zerosAddress;
                sizes[e] = length;
                cursor += length;
            }
            dst[e] = base + offset;
            src[e] = tensorAddress(tensorAddresses, p) + plan.pieceTensorOffset(p);
            sizes[e] = plan.pieceLength(p);
            cursor = offset + sizes[e];
            e++;
        }
        Cuda.memcpyBatchAsync(dst, src, sizes, e, stream);
    }

    /**
     * Enqueues the copies of bucket {@code bucket}'s pieces from {@code bucketMemory} to the tensors: one
     * cudaMemcpyBatchAsync on {@code stream}.
     *
     * @param bucketMemory    at least {@code plan().bucketByteSize(bucket)} bytes of device memory
     * @param tensorAddresses one destination address per tensor of the plan (index = tensor index)
     */
    public void scatter(int bucket, DeviceMemory bucketMemory, long[] tensorAddresses, CudaStream stream) {
        checkArguments(bucket, tensorAddresses, bucketMemory, stream);
        long base = bucketMemory.address();
        int from = plan.firstPieceOfBucket(bucket);
        int n = plan.firstPieceOfBucket(bucket + 1) - from;
        long[] dst = new long[n];
        long[] src = new long[n];
        long[] sizes = new long[n];
        for (int e = 0; e < n; e++) {
            int p = from + e;
            dst[e] = tensorAddress(tensorAddresses, p) + plan.pieceTensorOffset(p);
            src[e] = base + plan.pieceOffset(p);
            sizes[e] = plan.pieceLength(p);
        }
        Cuda.memcpyBatchAsync(dst, src, sizes, n, stream);
    }

    /** The zero buffer's address, allocating and zero-filling the buffer on first use. */
    private long zerosAddress() {
        synchronized (zerosLock) {
            if (closed) {
                throw new IllegalStateException(this + " is closed");
            }
            if (zeros == null) {
                PinnedHostBuffer buffer = PinnedHostBuffer.allocate(zeroChunk);
                buffer.segment().fill((byte) 0);
                zeros = buffer;
            }
            return zeros.address();
        }
    }

    private void checkArguments(int bucket, long[] tensorAddresses, DeviceMemory bucketMemory, CudaStream stream) {
        Objects.checkIndex(bucket, plan.bucketCount());
        Objects.requireNonNull(stream, "stream");
        if (tensorAddresses.length != plan.tensorCount()) {
            throw new IllegalArgumentException(tensorAddresses.length + " tensor addresses for a plan of "
                    + plan.tensorCount() + " tensors");
        }
        if (bucketMemory.byteSize() < plan.bucketByteSize(bucket)) {
            throw new IllegalArgumentException("bucket " + bucket + " has " + plan.bucketByteSize(bucket)
                    + " bytes, the device memory only " + bucketMemory.byteSize());
        }
    }

    private long tensorAddress(long[] tensorAddresses, int piece) {
        int t = plan.pieceTensor(piece);
        long address = tensorAddresses[t];
        if (address == 0) {
            throw new IllegalArgumentException("tensor " + t + " (" + plan.tensor(t).name() + ") has a piece in bucket "
                    + plan.pieceBucket(piece) + " but address 0");
        }
        return address;
    }

    /**
     * Frees the zero buffer, if one was allocated; idempotent. Packing a bucket with padding afterwards throws
     * IllegalStateException.
     */
    @Override
    public void close() {
        synchronized (zerosLock) {
            closed = true;
            if (zeros != null) {
                zeros.close();
            }
        }
    }

    @Override
    public String toString() {
        return "DeviceBucketPacker[" + plan + ", zero chunk " + zeroChunk + " B, batch entries " + Arrays.stream(packEntries).max().orElse(0) + " max]";
    }
}
