package io.github.panamanccl.sync;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * An in-memory control connection for driving a control agent in tests: it records every frame the agent sends
 * (each one encoded and decoded, as on the wire) and can play a peer that stops reading. Time is a {@link Fake}
 * clock the test advances.
 */
final class MemoryLink implements Link {
    /** A clock that moves only when the test says so. */
    static final class Fake implements Clock {
        private long now = TimeUnit.SECONDS.toNanos(1000);

        @Override
        public long nanoTime() {
            return now;
        }

        void advance(Duration by) {
            now += by.toNanos();
        }

        void advanceMillis(long millis) {
            now += TimeUnit.MILLISECONDS.toNanos(millis);
        }
    }

    private final String peer;
    private final Fake clock;
    private final List<Wire.Message> sent = new ArrayList<>();
    private boolean reading = true;
    private long stalledSince = NOTHING_QUEUED;
    private boolean closed;
    private int maxFrameBytes = Integer.MAX_VALUE;

    MemoryLink(String peer, Fake clock) {
        this.peer = peer;
        this.clock = clock;
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void send(Wire.Message message) {
        if (closed) {
            return;
        }
        sent.add(Wire.decode(Wire.encode(message)));
        if (!reading && stalledSince == NOTHING_QUEUED) {
            stalledSince = clock.nanoTime();
        }
    }

    @Override
    public void maxFrameBytes(int bytes) {
        this.maxFrameBytes = bytes;
    }

    int maxFrameBytes() {
        return maxFrameBytes;
    }

    @Override
    public long stalledSince() {
        return stalledSince;
    }

    @Override
    public void close() {
        closed = true;
    }

    boolean closed() {
        return closed;
    }

    /** From now on, what is sent piles up unread. */
    void stopReading() {
        reading = false;
    }

    /** Every frame sent since the last call, then forgotten. */
    List<Wire.Message> take() {
        List<Wire.Message> taken = List.copyOf(sent);
        sent.clear();
        return taken;
    }

    /** The only frame, heartbeats aside, sent since the last {@link #take}, of type {@code type}. */
    <T extends Wire.Message> T takeOne(Class<T> type) {
        List<Wire.Message> taken = take().stream().filter(m -> !(m instanceof Wire.Heartbeat)).toList();
        assertEquals(1, taken.size(), peer + " was sent " + taken);
        return assertInstanceOf(type, taken.getFirst(), peer + " was sent " + taken);
    }

    /** Nothing (or only heartbeats) was sent since the last {@link #take}. */
    void assertQuiet() {
        List<Wire.Message> taken = take();
        assertTrue(taken.stream().allMatch(m -> m instanceof Wire.Heartbeat), peer + " was sent " + taken);
    }

    @Override
    public String toString() {
        return peer;
    }
}
