package io.github.panamanccl.sync;

import java.util.List;

/**
 * Totals of one successful update on one rank.
 *
 * @param version           the version now committed (receiver) or published (sender)
 * @param rank              this rank (0 = sender)
 * @param transport         data-plane name
 * @param bytes             bucket bytes moved (padding included)
 * @param buckets           buckets moved
 * @param collectiveCalls   broadcast calls issued for this update (one per bucket)
 * @param seconds           wall time from the update's start to its commit (receiver) or last acknowledgement
 *                          (sender)
 * @param acknowledgedRanks on the sender: the receiver ranks that committed; empty on a receiver
 */
public record UpdateReport(long version, int rank, String transport, long bytes, int buckets, long collectiveCalls,
        double seconds, List<Integer> acknowledgedRanks) {

    public UpdateReport {
        acknowledgedRanks = List.copyOf(acknowledgedRanks);
    }

    /** Bytes per second / 1e9. */
    public double gigabytesPerSecond() {
        return seconds > 0 ? bytes / seconds / 1e9 : 0;
    }
}
