package io.github.panamanccl.sync;

/**
 * What every transport's group keeps: its rank, the world size, the broadcasts issued so far and whether
 * {@link #abort()} was called. The owning thread counts and checks; any thread may mark it aborted.
 */
abstract class GroupBase implements Transport.Group {
    private final String transport;
    private final int rank;
    private final int worldSize;
    private volatile boolean aborted;
    private long calls;

    GroupBase(String transport, int rank, int worldSize) {
        this.transport = transport;
        this.rank = rank;
        this.worldSize = worldSize;
    }

    @Override
    public final int rank() {
        return rank;
    }

    @Override
    public final int worldSize() {
        return worldSize;
    }

    @Override
    public final long collectiveCalls() {
        return calls;
    }

    /** On the owning thread, once per broadcast issued. */
    final void countCall() {
        calls++;
    }

    /** Called first by {@link #abort()}: every later check fails. */
    final void markAborted() {
        aborted = true;
    }

    final boolean isAborted() {
        return aborted;
    }

    /** @throws TransportException (an abort) once {@link #abort()} was called */
    final void checkNotAborted() {
        if (aborted) {
            throw abortedException(null);
        }
    }

    final TransportException abortedException(Throwable cause) {
        return TransportException.aborted(transport + " group", cause);
    }
}
