package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/** The data plane of plan-layout storage over a host group, on either side: each bucket straight from or into it. */
final class HostStorageBroadcasts {
    private HostStorageBroadcasts() {
    }

    /** Broadcasts bucket k of {@code version} from or into {@code bucket.apply(k)}, every k in order. */
    static void run(BucketPlan plan, long version, Transport.HostGroup group, IntFunction<MemorySegment> bucket,
            long startNanos, long deadlineNanos, Consumer<BucketProgress> progress) {
        int n = plan.bucketCount();
        for (int k = 0; k < n; k++) {
            long transferStart = System.nanoTime();
            group.broadcast(bucket.apply(k), new Transport.BucketTag(version, k, n), deadlineNanos);
            long end = System.nanoTime();
            progress.accept(new BucketProgress(version, group.rank(), k, n, plan.bucketByteSize(k), 0,
                    Pipelines.seconds(end - transferStart), Pipelines.seconds(end - startNanos)));
        }
    }
}
