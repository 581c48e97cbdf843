package io.github.panamanccl.sync;

import java.util.concurrent.TimeUnit;

/**
 * The silence rule and heartbeats of one link, as data: the peer must be heard from within the I/O timeout, must
 * take what was written within it, and hears a heartbeat whenever nothing was sent for a third of it.
 */
final class Liveness {
    private final long timeoutNanos;
    private final long heartbeatNanos;
    private long lastHeard;
    private long lastSent;

    Liveness(long now, long timeoutNanos) {
        this.timeoutNanos = timeoutNanos;
        this.heartbeatNanos = Math.max(1, timeoutNanos / 3);
        this.lastHeard = now;
        this.lastSent = now;
    }

    void heard(long now) {
        lastHeard = now;
    }

    /** Sends {@code message} on {@code link}, which counts as a heartbeat. */
    void send(Link link, Wire.Message message, long now) {
        link.send(message);
        lastSent = now;
    }

    /**
     * Sends a heartbeat when one is due; returns why the link is dead (silent, or not reading), or null while it
     * lives.
     */
    String check(Link link, long now) {
        if (now - lastHeard >= timeoutNanos) {
            return "silent for " + TimeUnit.NANOSECONDS.toMillis(now - lastHeard) + " ms (I/O timeout "
                    + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms)";
        }
        long queued = link.stalledSince();
        if (queued != Link.NOTHING_QUEUED && now - queued >= timeoutNanos) {
            return "has not taken what was sent to it for " + TimeUnit.NANOSECONDS.toMillis(now - queued)
                    + " ms (I/O timeout " + TimeUnit.NANOSECONDS.toMillis(timeoutNanos) + " ms)";
        }
        if (queued == Link.NOTHING_QUEUED && now - lastSent >= heartbeatNanos) {
            send(link, new Wire.Heartbeat(), now);
        }
        return null;
    }

    /** When {@link #check} has something to do next. */
    long nextCheck(Link link) {
        long queued = link.stalledSince();
        long next = Math.min(lastHeard + timeoutNanos, lastSent + heartbeatNanos);
        return queued == Link.NOTHING_QUEUED ? next : Math.min(lastHeard + timeoutNanos, queued + timeoutNanos);
    }
}
