package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.Consumer;

/**
 * Sender data path over host memory, without a bucket buffer: every bucket is written straight from the source
 * tensors ({@link BucketSpans}: gathering writes, padding from a shared zero region, small tensors through a small
 * local buffer). One bucket ahead of the write, the packer thread stages bucket k+1's small tensors into its local
 * buffer and computes its CRC32C (the header, which carries it, goes first), so the checksum overlaps the write of
 * bucket k. Two local buffers, used in turn: one is staged again only after the write that read it has returned.
 */
final class HostSenderPipeline implements SenderPipeline<HostSpanGroup> {
    private final BucketPlan plan;
    private final NativeMemoryLedger.TrackedArena arena = new NativeMemoryLedger.TrackedArena();
    private final BucketSpans[] buckets;
    private final ExecutorService packer = Pipelines.worker("sync-sender-pack");

    HostSenderPipeline(BucketPlan plan, MemorySegment[] sources) {
        this.plan = plan;
        int n = plan.bucketCount();
        BucketSpans.Layout[] layouts = new BucketSpans.Layout[n];
        long[] localBytes = new long[2];
        for (int k = 0; k < n; k++) {
            layouts[k] = BucketSpans.layout(plan, k, sources, BucketSpans.Side.SENDING);
            localBytes[k % 2] = Math.max(localBytes[k % 2], layouts[k].localBytes());
        }
        MemorySegment[] locals = new MemorySegment[2];
        for (int i = 0; i < locals.length; i++) {
            locals[i] = localBytes[i] > 0 ? arena.allocate(localBytes[i], 64) : MemorySegment.NULL;
        }
        this.buckets = new BucketSpans[n];
        for (int k = 0; k < n; k++) {
            buckets[k] = layouts[k].bind(locals[k % 2]);
        }
    }

    @Override
    public void run(long version, HostSpanGroup group, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) throws Exception {
        int n = plan.bucketCount();
        @SuppressWarnings("unchecked")
        Future<Integer>[] prepared = new Future[2];
        if (n > 0) {
            prepared[0] = prepare(0);
        }
        for (int k = 0; k < n; k++) {
            long waitStart = System.nanoTime();
            int crc32c = Pipelines.await(prepared[k % 2], deadlineNanos, 0, "preparing bucket " + k);
            if (k + 1 < n) {
                // Overlaps the write below; its local buffer's last reader, the write of bucket k-1, has returned.
                prepared[(k + 1) % 2] = prepare(k + 1);
            }
            long transferStart = System.nanoTime();
            long bytes = plan.bucketByteSize(k);
            group.send(buckets[k].spans(), bytes, crc32c, new Transport.BucketTag(version, k, n), deadlineNanos);
            long end = System.nanoTime();
            progress.accept(new BucketProgress(version, 0, k, n, bytes, Pipelines.seconds(transferStart - waitStart),
                    Pipelines.seconds(end - transferStart), Pipelines.seconds(end - startNanos)));
        }
    }

    /** Stages bucket {@code k}'s small tensors and computes its checksum, on the packer thread. */
    private Future<Integer> prepare(int k) {
        BucketSpans bucket = buckets[k];
        return packer.submit(() -> {
            bucket.stage();
            return bucket.crc32c();
        });
    }

    @Override
    public void close() {
        Pipelines.stop(packer);
        arena.close();
    }
}
