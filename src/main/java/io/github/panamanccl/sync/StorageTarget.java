package io.github.panamanccl.sync;

import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.bucket.PlanStorage;

import java.util.function.Consumer;

/**
 * Where a storage receiver's buckets land: the live weights ({@link InPlace}) or the storage of the two that nobody
 * reads ({@link Flip}); and how an update becomes the application's. The pipelines move the bytes; this decides
 * into which storage, once nothing still reads it.
 *
 * @param <S> the storage type
 */
abstract sealed class StorageTarget<S extends PlanStorage<?>> permits StorageTarget.InPlace, StorageTarget.Flip {

    /**
     * The storage the update writes, once it may be written (by {@code readersDeadlineNanos}, running
     * {@code throwIfFailed} while it waits); events that readers closed their leases with go to {@code afterReads}
     * (which makes the writes wait for them).
     */
    abstract S beginUpdate(long readersDeadlineNanos, int rank, Consumer<CudaEvent> afterReads, Runnable throwIfFailed);

    /** Whether the update writes the weights the application reads (then a failure tears them). */
    abstract boolean writesLiveWeights();

    /** The update settled as a success: it becomes what the application reads. */
    abstract void committed(long version);

    /** Bytes held besides one copy of the weights. */
    abstract long stagingBytes();

    /** Frees what the receiver allocated. */
    abstract void close();

    /** The application's weights, written in place. */
    static final class InPlace<S extends PlanStorage<?>> extends StorageTarget<S> {
        private final S storage;
        private final boolean owned;

        InPlace(S storage, boolean owned) {
            this.storage = storage;
            this.owned = owned;
        }

        S storage() {
            return storage;
        }

        @Override
        S beginUpdate(long readersDeadlineNanos, int rank, Consumer<CudaEvent> afterReads, Runnable throwIfFailed) {
            return storage;
        }

        @Override
        boolean writesLiveWeights() {
            return true;
        }

        @Override
        void committed(long version) {
            // the bytes are the weights already
        }

        @Override
        long stagingBytes() {
            return 0;
        }

        @Override
        void close() {
            if (owned) {
                storage.close();
            }
        }
    }

    /** Two storages: the update lands in the inactive one, and commit flips. */
    static final class Flip<S extends PlanStorage<?>> extends StorageTarget<S> {
        private final StagedWeights<S> weights;
        private int writing = -1;

        Flip(StagedWeights<S> weights) {
            this.weights = weights;
        }

        StagedWeights<S> weights() {
            return weights;
        }

        @Override
        S beginUpdate(long readersDeadlineNanos, int rank, Consumer<CudaEvent> afterReads, Runnable throwIfFailed) {
            writing = -1;
            int inactive = weights.inactive();
            weights.awaitReaders(inactive, readersDeadlineNanos, rank, afterReads, throwIfFailed);
            writing = inactive;
            return weights.storage(inactive);
        }

        @Override
        boolean writesLiveWeights() {
            return false;
        }

        @Override
        void committed(long version) {
            if (writing < 0) {
                throw new IllegalStateException("no update is in progress");
            }
            weights.flip(writing, version);
            writing = -1;
        }

        @Override
        long stagingBytes() {
            return weights.storage(0).allocatedBytes();
        }

        @Override
        void close() {
            weights.close();
        }
    }
}
