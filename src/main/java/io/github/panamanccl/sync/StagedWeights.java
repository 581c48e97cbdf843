package io.github.panamanccl.sync;

import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.PlanStorage;

import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * The weights of a receiver that flips between two plan-layout storages ({@link CommitMode#STAGED} with
 * {@link WeightReceiver.Builder#receiveInto(PlanStorage, PlanStorage)} or {@link WeightReceiver.Builder#allocateStorage()}):
 * each update is broadcast straight into the storage nobody reads, and its commit is one atomic switch of which
 * storage, and which version, {@link #acquire()} hands out. The application reads the weights only through a
 * {@link Lease}, which pins one version: every read through it sees that version, never a mix, however many updates
 * commit meanwhile. A failed update leaves the committed version, its storage and its bytes untouched.
 *
 * <pre>{@code
 * float firstWeight(WeightReceiver receiver) {
 *     StagedWeights<HostPlanStorage> weights = receiver.stagedWeights(HostPlanStorage.class);
 *     try (StagedWeights.Lease<HostPlanStorage> lease = weights.acquire()) {
 *         return lease.storage().tensor("lm_head.weight").getFloat(0);   // version lease.version(), whole
 *     }
 * }
 * }</pre>
 *
 * <p>Reuse: an update overwrites the storage of the version before the committed one, so it first waits, until its
 * deadline, for every lease on that storage to close (a lease held across two updates blocks the second, which then
 * fails with {@link FailureReason#APPLICATION_ERROR} and leaves the committed version as it was). Readers on a GPU
 * stream close their lease with {@link Lease#closeAfter(CudaEvent)}: the update's stream waits for that event before
 * its first write, so the host need not wait for the kernels. Addresses change at every flip: an application that
 * binds tensor addresses once (a captured CUDA graph) re-binds in {@link SyncListener#onUpdate}, which runs after the
 * flip, or receives {@link CommitMode#IN_PLACE} instead. Memory: two storages, twice the weights.
 *
 * <p>Thread-safe: any thread may acquire and close leases while the receiver updates.
 *
 * @param <S> the storage type: {@link io.github.panamanccl.bucket.HostPlanStorage} or
 *            {@link io.github.panamanccl.bucket.DevicePlanStorage}
 */
public final class StagedWeights<S extends PlanStorage<?>> {
    private static final long MAX_PARK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final BucketPlan plan;
    private final List<S> storages;
    private final boolean owned;
    private final AtomicInteger[] readers = {new AtomicInteger(), new AtomicInteger()};
    /** Per storage, the events its GPU readers closed leases with; a set, as readers reuse one event per stream. */
    private final List<Set<CudaEvent>> readsDone = List.of(ConcurrentHashMap.newKeySet(), ConcurrentHashMap.newKeySet());
    /** The committed storage and version; null until the first commit. Set only by the updating thread. */
    private final AtomicReference<Committed> current = new AtomicReference<>();
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The version each storage holds (-1: none); the updating thread's own. */
    private final long[] versions = {-1, -1};

    /** One commit: which storage holds which version. A new object per flip, so a lease can tell flips apart. */
    private record Committed(int index, long version) {
    }

    /**
     * @param owned whether the receiver allocated the storages (then {@link #close()} frees them)
     */
    StagedWeights(BucketPlan plan, S first, S second, boolean owned) {
        this.plan = plan;
        this.storages = List.of(first, second);
        this.owned = owned;
    }

    /** The plan both storages are laid out by. */
    public BucketPlan plan() {
        return plan;
    }

    /** The committed version; empty until the first update committed. */
    public OptionalLong version() {
        Committed c = current.get();
        return c == null ? OptionalLong.empty() : OptionalLong.of(c.version());
    }

    /**
     * Pins the committed version: its storage is not written until the lease is closed.
     *
     * @throws IllegalStateException no version has been committed yet, or the receiver was closed
     */
    public Lease<S> acquire() {
        while (true) {
            if (closed.get()) {
                throw new IllegalStateException("the receiver is closed: its staged weights are freed");
            }
            Committed c = current.get();
            if (c == null) {
                throw new IllegalStateException("no version has been committed yet: acquire after the first "
                        + "awaitUpdate that returned a report");
            }
            readers[c.index()].incrementAndGet();
            if (current.get() == c) { // still committed: the updating thread sees this reader before it writes
                return new Lease<>(this, c.index(), c.version());
            }
            readers[c.index()].decrementAndGet(); // a flip came in between: pin the new version instead
        }
    }

    /** Open leases, on either storage. */
    public int openLeases() {
        return readers[0].get() + readers[1].get();
    }

    /** Bytes of the two storages together. */
    public long allocatedBytes() {
        return storages.get(0).allocatedBytes() + storages.get(1).allocatedBytes();
    }

    /** The storage the next update writes: the one not committed. */
    int inactive() {
        Committed c = current.get();
        return c == null ? 0 : 1 - c.index();
    }

    S storage(int index) {
        return storages.get(index);
    }

    /**
     * On the updating thread: waits until no lease reads storage {@code index} (polling, by the deadline, running
     * {@code throwIfFailed} at every poll), then hands every event its GPU readers closed their leases with to
     * {@code afterReads}.
     *
     * @throws TransportException {@link FailureReason#APPLICATION_ERROR} naming the open leases, at the deadline
     */
    void awaitReaders(int index, long deadlineNanos, int rank, Consumer<CudaEvent> afterReads,
            Runnable throwIfFailed) {
        long park = 10_000;
        while (readers[index].get() > 0) {
            throwIfFailed.run();
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw new TransportException(FailureReason.APPLICATION_ERROR, rank, readers[index].get()
                        + " lease(s) of staged weights still read version " + versions[index] + ", whose storage this "
                        + "update must overwrite (the committed version is " + versions[1 - index] + "), after half "
                        + "the update's time: close each StagedWeights.Lease once its reads are done; a lease held "
                        + "across two updates blocks the second", null);
            }
            LockSupport.parkNanos(park);
            park = Math.min(park * 2, MAX_PARK_NANOS);
        }
        for (CudaEvent event : readsDone.get(index)) {
            readsDone.get(index).remove(event);
            afterReads.accept(event);
        }
    }

    /** On the updating thread, once the update settled as a success: storage {@code index} holds {@code version}. */
    void flip(int index, long version) {
        versions[index] = version;
        current.set(new Committed(index, version));
    }

    /** Refuses new leases; frees the storages if the receiver allocated them. Idempotent. */
    void close() {
        if (closed.compareAndSet(false, true) && owned) {
            Pipelines.closeQuietly(storages.get(0), storages.get(1));
        }
    }

    private void release(int index, CudaEvent lastRead) {
        if (lastRead != null) {
            readsDone.get(index).add(lastRead); // before the count drops, so the update that sees 0 sees the event
        }
        readers[index].decrementAndGet();
    }

    /**
     * One version of the weights, pinned until {@link #close()}: {@link #storage()} holds exactly version
     * {@link #version()} for as long as the lease is open. Close it once the reads are done; a lease is for one
     * reader's batch of work, not for keeping.
     *
     * @param <S> the storage type
     */
    public static final class Lease<S extends PlanStorage<?>> implements AutoCloseable {
        private final StagedWeights<S> weights;
        private final int index;
        private final long version;
        private final AtomicBoolean closed = new AtomicBoolean();

        private Lease(StagedWeights<S> weights, int index, long version) {
            this.weights = weights;
            this.index = index;
            this.version = version;
        }

        /** The version this lease pins. */
        public long version() {
            return version;
        }

        /**
         * The storage holding {@link #version()}.
         *
         * @throws IllegalStateException after {@link #close()}: the storage may be overwritten by then
         */
        public S storage() {
            if (closed.get()) {
                throw new IllegalStateException("lease of version " + version + " is closed");
            }
            return weights.storage(index);
        }

        /** The reads are done (host readers, or GPU readers whose stream the host has synchronized). Idempotent. */
        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                weights.release(index, null);
            }
        }

        /**
         * The reads are enqueued on a GPU stream, and {@code lastRead} is recorded on it after the last of them: the
         * update that overwrites this storage makes its stream wait for the event (host storage: waits for it on the
         * host) before its first write. Keep the event alive until then (until the next update after the next one has
         * begun); recording it again for a later lease is fine. Idempotent: a second close does nothing.
         */
        public void closeAfter(CudaEvent lastRead) {
            Objects.requireNonNull(lastRead, "lastRead");
            if (closed.compareAndSet(false, true)) {
                weights.release(index, lastRead);
            }
        }

        @Override
        public String toString() {
            return "Lease[version " + version + (closed.get() ? ", closed]" : "]");
        }
    }
}
