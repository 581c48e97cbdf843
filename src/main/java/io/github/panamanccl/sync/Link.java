package io.github.panamanccl.sync;

/**
 * One control connection as a control agent sees it: frames go out through it, and the loop that owns it reports
 * what comes in. Only the agent's thread calls it. {@link ControlLoop} gives sockets; tests give in-memory links.
 */
interface Link {
    /** {@link #stalledSince()} when everything sent has left. */
    long NOTHING_QUEUED = Long.MIN_VALUE;

    /** The peer's address, for messages. */
    String peer();

    /**
     * Queues one frame and writes what the socket takes now; never blocks. A peer that stops reading is caught by
     * {@link #stalledSince()}; one that lets too many frames pile up is dropped as lost.
     */
    void send(Wire.Message message);

    /** Frames longer than this are refused; the handshake uses a small limit. */
    void maxFrameBytes(int bytes);

    /**
     * With frames waiting to be written: the clock time of the last write that made progress (or of the send that
     * found the socket full). {@link #NOTHING_QUEUED} when everything has left.
     */
    long stalledSince();

    /** Writes what the socket takes at once of what is queued, then closes; idempotent. No loss is reported. */
    void close();
}
