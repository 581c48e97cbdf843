package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Sender data path over host memory: two bucket buffers; the packer thread packs bucket k+1 into one while
 * bucket k is broadcast from the other. A buffer is packed again only after the broadcast that read it has
 * returned, i.e. after every receiver's connection has taken all of its bytes.
 */
final class HostSenderPipeline implements SenderPipeline<Transport.HostGroup> {
    private final BucketPlan plan;
    private final MemorySegment[] sources;
    private final NativeMemoryLedger.TrackedArena arena = new NativeMemoryLedger.TrackedArena();
    private final MemorySegment[] buffers;
    private final ExecutorService packer = Pipelines.worker("sync-sender-pack");

    HostSenderPipeline(BucketPlan plan, MemorySegment[] sources) {
        this.plan = plan;
        this.sources = sources;
        int count = Math.min(2, plan.bucketCount());
        this.buffers = new MemorySegment[count];
        for (int i = 0; i < count; i++) {
            buffers[i] = arena.allocate(plan.maxBucketByteSize(), Math.min(plan.alignment(), 4096));
        }
    }

    @Override
    public void run(long version, Transport.HostGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) throws Exception {
        int n = plan.bucketCount();
        Future<?>[] packed = new Future<?>[2];
        if (n > 0) {
            packed[0] = pack(0);
        }
        for (int k = 0; k < n; k++) {
            long waitStart = System.nanoTime();
            Pipelines.await(packed[k % 2], deadlineNanos, 0, "packing bucket " + k);
            if (k + 1 < n) {
                packed[(k + 1) % 2] = pack(k + 1); // overlaps the broadcast below; its buffer's last reader (k-1) is done
            }
            long transferStart = System.nanoTime();
            MemorySegment bucket = buffers[k % 2].asSlice(0, plan.bucketByteSize(k));
            group.broadcast(bucket, new Transport.BucketTag(version, k, n), deadlineNanos);
            long end = System.nanoTime();
            progress.accept(new BucketProgress(version, 0, k, n, bucket.byteSize(),
                    Pipelines.seconds(transferStart - waitStart), Pipelines.seconds(end - transferStart),
                    Pipelines.seconds(end - startNanos)));
        }
    }

    private Future<?> pack(int bucket) {
        MemorySegment target = buffers[bucket % 2];
        return packer.submit(() -> HostBucketPacker.pack(plan, bucket, sources, target));
    }

    @Override
    public void close() {
        Pipelines.stop(packer);
        arena.close();
    }
}
