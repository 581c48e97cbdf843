package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;
import io.github.panamanccl.internal.nccl.NcclApi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One rank of an NCCL communicator, created non-blocking so that every wait has a deadline: creation and
 * {@link #await} poll ncclCommGetAsyncError and, when the deadline passes, abort the communicator
 * (ncclCommAbort) and throw {@link NcclTimeoutException} instead of hanging.
 *
 * <p>Forming: {@link #create} is {@link #begin} (ncclCommInitRankConfig, which returns at once) followed by
 * {@link #awaitReady} (polls until every rank has joined). Between the two the communicator is <em>forming</em>:
 * it can be handed to another thread, which may {@link #abort()} it to end the formation at once, e.g. when
 * a peer is known to be lost; {@code awaitReady} then throws {@link NcclAbortedException}. Any other use of a
 * forming communicator throws IllegalStateException.
 *
 * <p>{@link #close()} finalizes and destroys the communicator; it is idempotent and does nothing after
 * {@link #abort()}. A wait that an {@link #abort()} call cuts short, or that begins after one, throws
 * {@link NcclAbortedException}: {@link #awaitReady} for an abort while forming, {@link #await} for one while open.
 * Any other use after close or abort throws IllegalStateException. The communicator is never
 * freed under a running call: native calls share a read lock that abort and close take exclusively, and every
 * call is short because the communicator is non-blocking. So {@link #abort()} may come from another thread
 * (a watchdog) while {@link #awaitReady}, {@link #await} or {@link #close()} waits.
 */
public final class NcclCommunicator implements AutoCloseable {
    /** How long close() waits for ncclCommFinalize to drain outstanding work before aborting instead. */
    private static final Duration CLOSE_DEADLINE = Duration.ofSeconds(60);

    private enum State { FORMING, OPEN, CLOSING, ABORTED, CLOSED }

    /**
     * Communicators of this JVM begun and neither destroyed nor aborted, and the ncclCommAbort calls that succeeded:
     * what the tests on the real NCCL check after a failure (the fake libnccl counts its own).
     */
    private static final AtomicInteger LIVE = new AtomicInteger();
    private static final AtomicLong ABORTED = new AtomicLong();

    private final MemorySegment comm;
    private final int rank;
    private final int nranks;
    private final AtomicReference<State> state = new AtomicReference<>(State.FORMING);
    /** Native calls hold the read lock; abort and the state changes of close hold the write lock. */
    private final ReentrantReadWriteLock lifecycle = new ReentrantReadWriteLock();
    /**
     * The state in which an abort() call (not an abort after a failure) ended the communicator, so that the wait
     * of that phase reports the abort rather than misuse; null until then.
     */
    private volatile State abortRequestedIn;

    private NcclCommunicator(MemorySegment comm, int nranks, int rank) {
        this.comm = comm;
        this.nranks = nranks;
        this.rank = rank;
        LIVE.incrementAndGet();
    }

    /** Communicators of this JVM begun and neither destroyed nor aborted. */
    static int live() {
        return LIVE.get();
    }

    /** ncclCommAbort calls of this JVM that succeeded. */
    static long aborted() {
        return ABORTED.get();
    }

    /**
     * ncclCommInitRankConfig with a non-blocking config, then polls until the communicator is ready: {@link #begin}
     * then {@link #awaitReady}. Every rank calls this with the same id and nranks; each on the device it made
     * current with {@link Cuda#setDevice} (NCCL refuses two ranks on one GPU).
     *
     * @param deadline how long to wait for all ranks to join before aborting
     * @throws NcclTimeoutException when the deadline passes (the communicator was aborted)
     * @throws NcclException        when NCCL reports an error (the communicator was aborted)
     */
    public static NcclCommunicator create(NcclUniqueId id, int nranks, int rank, Duration deadline) {
        checkDeadline(deadline);
        NcclCommunicator communicator = begin(id, nranks, rank);
        communicator.awaitReady(deadline);
        return communicator;
    }

    /**
     * ncclCommInitRankConfig with a non-blocking config; returns the communicator at once, still forming.
     * Call {@link #awaitReady} before using it; meanwhile any thread may {@link #abort()} it, which ends the
     * formation at once. Every rank calls this with the same id and nranks, on its own device (see {@link #create}).
     *
     * @throws NcclException when NCCL refuses at once (nothing is left to abort or close)
     */
    public static NcclCommunicator begin(NcclUniqueId id, int nranks, int rank) {
        Objects.requireNonNull(id, "id");
        if (nranks < 1) {
            throw new IllegalArgumentException("nranks must be at least 1: " + nranks);
        }
        if (rank < 0 || rank >= nranks) {
            throw new IllegalArgumentException("rank " + rank + " is outside [0, " + nranks + ")");
        }
        int versionCode = Nccl.version().code();
        MemorySegment comm;
        int result;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
            MemorySegment config = NcclConfig.allocate(arena, versionCode, false);
            result = NcclApi.ncclCommInitRankConfig(out, nranks, id.toStruct(arena), rank, config);
            comm = out.get(ADDRESS, 0);
        }
        if (result != NcclApi.ncclSuccess() && result != NcclApi.ncclInProgress()) {
            throw abortCreated(comm, NativeResults.ncclException("ncclCommInitRankConfig", result, comm));
        }
        if (comm.equals(MemorySegment.NULL)) {
            throw new PanamaNcclException("ncclCommInitRankConfig returned " + NcclResult.nameOf(result)
                    + " but no communicator");
        }
        return new NcclCommunicator(comm, nranks, rank);
    }

    /**
     * Waits until every rank has joined, polling ncclCommGetAsyncError; returns at once when the communicator is
     * already ready. On an NCCL error or when {@code deadline} passes, aborts the communicator and throws.
     *
     * @param deadline how long to wait for all ranks to join before aborting
     * @throws NcclAbortedException  when another thread aborted the communicator before it was ready
     * @throws NcclTimeoutException  when the deadline passes (the communicator was aborted)
     * @throws NcclException         when NCCL reports an error (the communicator was aborted)
     * @throws IllegalStateException when the communicator was closed, or aborted after it was ready
     */
    public void awaitReady(Duration deadline) {
        long deadlineNanos = deadlineNanos(deadline);
        try {
            awaitAsyncResult("ncclCommInitRankConfig", comm, this::pollForming, deadline, deadlineNanos);
        } catch (PanamaNcclException failure) {
            throw abortAfter(failure);
        }
        State now = state.get();
        if (now == State.ABORTED && abortRequestedIn == State.FORMING) {
            throw NativeResults.ncclAborted("ncclCommInitRankConfig");
        }
        if (now != State.OPEN && now != State.CLOSING) {
            throw new IllegalStateException(this + " is " + now.name().toLowerCase(Locale.ROOT));
        }
    }

    /** ncclCommCount: the number of ranks. */
    public int count() {
        return intQuery("ncclCommCount", NcclApi::ncclCommCount);
    }

    /** ncclCommUserRank: this rank. */
    public int rank() {
        return intQuery("ncclCommUserRank", NcclApi::ncclCommUserRank);
    }

    /** ncclCommCuDevice: the CUDA device this rank uses. */
    public int device() {
        return intQuery("ncclCommCuDevice", NcclApi::ncclCommCuDevice);
    }

    /**
     * ncclBroadcast of {@code count} elements of {@code type} from {@code root}'s {@code send} into every rank's
     * {@code recv}, enqueued on {@code stream} (returns before the data moved; {@link #await} waits).
     * In place when {@code send} and {@code recv} are the same memory. Sizes are checked here; the root and
     * the type are checked by NCCL.
     *
     * @param send read on the root only; may be null on the other ranks
     */
    public void broadcast(DeviceMemory send, DeviceMemory recv, long count, NcclDataType type, int root,
                          CudaStream stream) {
        Objects.requireNonNull(recv, "recv");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(stream, "stream");
        if (count < 0) {
            throw new IllegalArgumentException("count is negative: " + count);
        }
        long bytes;
        try {
            bytes = Math.multiplyExact(count, (long) type.byteSize());
        } catch (ArithmeticException overflow) {
            throw new IllegalArgumentException("count " + count + " of " + type + " overflows a byte count", overflow);
        }
        if (bytes > recv.byteSize()) {
            throw new IndexOutOfBoundsException("recv holds " + recv.byteSize() + " bytes; " + count + " x " + type
                    + " needs " + bytes);
        }
        if (root == rank) {
            Objects.requireNonNull(send, "send (this rank is the root)");
        }
        if (send != null && bytes > send.byteSize()) {
            throw new IndexOutOfBoundsException("send holds " + send.byteSize() + " bytes; " + count + " x " + type
                    + " needs " + bytes);
        }
        MemorySegment sendPointer = send == null ? MemorySegment.NULL : MemorySegment.ofAddress(send.address());
        MemorySegment recvPointer = MemorySegment.ofAddress(recv.address());
        int result = whileOpen(() -> NcclApi.ncclBroadcast(sendPointer, recvPointer, count, type.code(), root, comm,
                stream.handle()));
        // A non-blocking communicator may answer ncclInProgress while it enqueues; await() collects the outcome.
        if (result != NcclApi.ncclInProgress()) {
            NativeResults.checkNccl("ncclBroadcast", result, comm);
        }
    }

    /**
     * Waits until {@code stream} has finished all work queued so far, watching the communicator for errors.
     * Polls cudaStreamQuery and ncclCommGetAsyncError; on an NCCL error or when {@code deadline} passes,
     * aborts the communicator and throws. Another thread may {@link #abort()} meanwhile, which ends the wait.
     *
     * @throws NcclAbortedException  when another thread aborted the communicator, during the wait or before it
     *                               (the work on {@code stream} may have been cut short)
     * @throws NcclTimeoutException  when the deadline passes (the communicator was aborted)
     * @throws NcclException         when the communicator reports an error (it was aborted)
     * @throws CudaException         when the stream reports an error
     * @throws IllegalStateException when the communicator is still forming, was closed, or was aborted after an
     *                               earlier failure (already reported)
     */
    public void await(CudaStream stream, Duration deadline) {
        Objects.requireNonNull(stream, "stream");
        long deadlineNanos = deadlineNanos(deadline);
        Backoff backoff = new Backoff();
        while (true) {
            boolean streamDone = CudaStream.queryComplete("cudaStreamQuery",
                    CudaRuntimeApi.cudaStreamQuery(stream.handle()));
            try {
                int asyncState = pollOpen("NcclCommunicator.await");
                if (asyncState != NcclApi.ncclSuccess() && asyncState != NcclApi.ncclInProgress()) {
                    throw NativeResults.ncclException("ncclCommGetAsyncError", asyncState, comm);
                }
                if (streamDone) {
                    return;
                }
                if (System.nanoTime() - deadlineNanos >= 0) {
                    throw NativeResults.ncclTimeout("NcclCommunicator.await", deadline, asyncState, comm);
                }
                backoff.pause();
            } catch (PanamaNcclException failure) {
                abortAfter(failure); // nothing to do after an abort() call: NcclAbortedException
                throw failure;
            }
        }
    }

    /**
     * ncclCommAbort: stops outstanding work, or the formation, and frees the communicator; later calls and close()
     * do nothing. Safe to call from another thread, e.g. a watchdog, while {@link #awaitReady}, {@link #await} or
     * {@link #close()} waits.
     */
    public void abort() {
        abort(true);
    }

    /** {@code requested}: an abort() call, which the wait of the phase it ended reports; false after a failure. */
    private void abort(boolean requested) {
        Lock lock = lifecycle.writeLock();
        lock.lock();
        try {
            State current = state.get();
            if (current == State.FORMING || current == State.OPEN || current == State.CLOSING) {
                if (requested) {
                    abortRequestedIn = current;
                }
                state.set(State.ABORTED);
                int result = NcclApi.ncclCommAbort(comm);
                LIVE.decrementAndGet();
                if (result == NcclApi.ncclSuccess()) {
                    ABORTED.incrementAndGet();
                }
                NativeResults.checkNccl("ncclCommAbort", result);
            }
        } finally {
            lock.unlock();
        }
    }

    /**
     * ncclCommFinalize, waits for it (up to a minute, then aborts), then ncclCommDestroy. A communicator still
     * forming is aborted instead: NCCL finalizes only a ready one. Idempotent; does nothing after {@link #abort()}.
     */
    @Override
    public void close() {
        long deadlineNanos = deadlineNanos(CLOSE_DEADLINE);
        Lock exclusive = lifecycle.writeLock();
        exclusive.lock();
        try {
            if (state.get() == State.FORMING) {
                abort();
                return;
            }
            if (state.get() != State.OPEN) {
                return;
            }
            state.set(State.CLOSING);
            int result = NcclApi.ncclCommFinalize(comm);
            if (result != NcclApi.ncclInProgress()) {
                NativeResults.checkNccl("ncclCommFinalize", result, comm);
            }
        } catch (NcclException failure) {
            throw abortAfter(failure);
        } finally {
            exclusive.unlock();
        }
        // Poll without holding the exclusive lock, so that abort() from another thread can cut the wait short.
        try {
            awaitAsyncResult("ncclCommFinalize", comm, () -> whileClosing(() -> asyncError(comm)), CLOSE_DEADLINE,
                    deadlineNanos);
        } catch (PanamaNcclException failure) {
            throw abortAfter(failure);
        }
        exclusive.lock();
        try {
            if (state.get() == State.CLOSING) {
                state.set(State.CLOSED);
                LIVE.decrementAndGet();
                NativeResults.checkNccl("ncclCommDestroy", NcclApi.ncclCommDestroy(comm));
            }
        } finally {
            exclusive.unlock();
        }
    }

    @Override
    public String toString() {
        return "NcclCommunicator[rank " + rank + " of " + nranks + ", " + state.get().name().toLowerCase(Locale.ROOT) + "]";
    }

    /** An NCCL getter of the form {@code ncclResult_t f(ncclComm_t, int*)}. */
    @FunctionalInterface
    private interface IntGetter {
        int call(MemorySegment comm, MemorySegment value);
    }

    private int intQuery(String call, IntGetter getter) {
        MemorySegment value = OutSlot.zeroed(JAVA_INT.byteSize());
        int result = whileOpen(() -> getter.call(comm, value));
        NativeResults.checkNccl(call, result, comm);
        return value.get(JAVA_INT, 0);
    }

    /**
     * Runs a short native call on the communicator while it is open; abort() and close() wait for it, so the
     * communicator is never freed under a running call. Every call is short: the communicator is non-blocking.
     */
    private int whileOpen(IntSupplier nativeCall) {
        Lock shared = lifecycle.readLock();
        shared.lock();
        try {
            requireOpen(state.get());
            return nativeCall.getAsInt();
        } finally {
            shared.unlock();
        }
    }

    /**
     * One poll of an open communicator's state for the wait {@code call}, under the shared lock like
     * {@link #whileOpen}; throws {@link NcclAbortedException} once an abort() call has ended the open communicator.
     */
    private int pollOpen(String call) {
        Lock shared = lifecycle.readLock();
        shared.lock();
        try {
            State current = state.get();
            if (current == State.ABORTED && abortRequestedIn == State.OPEN) {
                throw NativeResults.ncclAborted(call);
            }
            requireOpen(current);
            return asyncError(comm);
        } finally {
            shared.unlock();
        }
    }

    private void requireOpen(State current) {
        if (current == State.FORMING) {
            throw new IllegalStateException(this + " is still forming: call awaitReady first");
        }
        if (current != State.OPEN) {
            throw new IllegalStateException(this + " is " + (current == State.ABORTED ? "aborted" : "closed"));
        }
    }

    /**
     * One poll of a forming communicator, under the shared lock so that abort() cannot free it meanwhile: its
     * state, after which it is OPEN if NCCL reported it ready; null once it is no longer forming (another thread
     * aborted it, or saw it ready first).
     */
    private Integer pollForming() {
        Lock shared = lifecycle.readLock();
        shared.lock();
        try {
            if (state.get() != State.FORMING) {
                return null;
            }
            int asyncState = asyncError(comm);
            if (asyncState == NcclApi.ncclSuccess()) {
                state.compareAndSet(State.FORMING, State.OPEN);
            }
            return asyncState;
        } finally {
            shared.unlock();
        }
    }

    /** Like {@link #whileOpen} during close(); null once another thread aborted the communicator. */
    private Integer whileClosing(IntSupplier nativeCall) {
        Lock shared = lifecycle.readLock();
        shared.lock();
        try {
            return state.get() == State.CLOSING ? nativeCall.getAsInt() : null;
        } finally {
            shared.unlock();
        }
    }

    /** Aborts (once) after {@code failure}; an abort failure is attached to it as suppressed. */
    private RuntimeException abortAfter(RuntimeException failure) {
        try {
            abort(false);
        } catch (NcclException abortFailure) {
            failure.addSuppressed(abortFailure);
        }
        return failure;
    }

    /** ncclCommAbort on a communicator that begin() could not start; returns {@code failure} to throw. */
    private static RuntimeException abortCreated(MemorySegment comm, RuntimeException failure) {
        if (!comm.equals(MemorySegment.NULL)) {
            int result = NcclApi.ncclCommAbort(comm);
            if (result != NcclApi.ncclSuccess()) {
                failure.addSuppressed(NativeResults.ncclException("ncclCommAbort", result, MemorySegment.NULL));
            }
        }
        return failure;
    }

    /**
     * Polls the communicator's state until it leaves ncclInProgress; throws on an error or at the deadline.
     * Returns early when {@code poll} answers null (the communicator was aborted meanwhile).
     */
    private static void awaitAsyncResult(String call, MemorySegment comm, Supplier<Integer> poll, Duration deadline,
                                         long deadlineNanos) {
        Backoff backoff = new Backoff();
        while (true) {
            Integer asyncState = poll.get();
            if (asyncState == null || asyncState == NcclApi.ncclSuccess()) {
                return;
            }
            if (asyncState != NcclApi.ncclInProgress()) {
                throw NativeResults.ncclException(call, asyncState, comm);
            }
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw NativeResults.ncclTimeout(call, deadline, asyncState, comm);
            }
            backoff.pause();
        }
    }

    /**
     * ncclCommGetAsyncError: the communicator's state (ncclInProgress while work is still being set up). Polled in
     * every wait loop, so it writes into this thread's {@link OutSlot} rather than allocating.
     */
    private static int asyncError(MemorySegment comm) {
        MemorySegment asyncState = OutSlot.zeroed(JAVA_INT.byteSize());
        asyncState.set(JAVA_INT, 0, NcclApi.ncclInProgress());
        NativeResults.checkNccl("ncclCommGetAsyncError", NcclApi.ncclCommGetAsyncError(comm, asyncState), comm);
        return asyncState.get(JAVA_INT, 0);
    }

    private static void checkDeadline(Duration deadline) {
        Objects.requireNonNull(deadline, "deadline");
        if (deadline.isNegative()) {
            throw new IllegalArgumentException("deadline is negative: " + deadline);
        }
    }

    private static long deadlineNanos(Duration deadline) {
        checkDeadline(deadline);
        long nanos = deadline.compareTo(Duration.ofDays(365)) > 0 ? Duration.ofDays(365).toNanos() : deadline.toNanos();
        return System.nanoTime() + nanos;
    }

    /**
     * Waits between polls: spins briefly (operations often finish within microseconds), then parks with a
     * growing pause capped at a millisecond, so a long wait costs little CPU yet reacts quickly.
     * An interrupt ends the wait with an exception (the caller aborts the communicator).
     */
    private static final class Backoff {
        private static final int SPINS = 100;
        private static final long MAX_PARK_NANOS = 1_000_000;
        private int polls;
        private long parkNanos = 10_000;

        void pause() {
            if (Thread.currentThread().isInterrupted()) {
                throw new PanamaNcclException("interrupted while waiting for NCCL; the communicator is aborted");
            }
            if (polls++ < SPINS) {
                Thread.onSpinWait();
                return;
            }
            LockSupport.parkNanos(parkNanos);
            parkNanos = Math.min(parkNanos * 2, MAX_PARK_NANOS);
        }
    }
}
