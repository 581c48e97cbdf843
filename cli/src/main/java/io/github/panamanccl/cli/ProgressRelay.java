package io.github.panamanccl.cli;

import io.github.panamanccl.sync.BucketProgress;
import io.github.panamanccl.sync.SyncListener;

/** Turns the sender's per-bucket callbacks into cumulative progress of the current sync. */
final class ProgressRelay implements SyncListener {
    private volatile DemoCluster.Progress target = DemoCluster.Progress.NONE;
    private long total;
    private long done;

    synchronized void start(DemoCluster.Progress progress, long totalBytes) {
        target = progress;
        total = totalBytes;
        done = 0;
    }

    synchronized void stop() {
        target = DemoCluster.Progress.NONE;
    }

    @Override
    public synchronized void onBucket(BucketProgress progress) {
        if (progress.rank() == 0) {
            done += progress.bytes();
            target.update(done, total);
        }
    }
}
