package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.NcclAbortedException;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclDataType;
import io.github.panamanccl.NcclException;
import io.github.panamanccl.NcclTimeoutException;
import io.github.panamanccl.NcclUniqueId;
import io.github.panamanccl.PanamaNcclException;

import java.net.InetAddress;
import java.time.Duration;

/**
 * NCCL: the rendezvous is an {@code ncclUniqueId}; each rank creates a non-blocking communicator on its device;
 * each bucket is one {@code ncclBroadcast} of bytes from rank 0 (in place on every rank).
 *
 * <p>Aborting: {@link PendingGroup#abort()} and {@link Group#abort()} abort the communicator at once from
 * whichever thread calls them (the control plane's, when a peer is lost or reports an error; the deadline
 * watchdog's). {@link NcclCommunicator} lets that abort wait for a native call in progress, and the rank's own
 * wait in {@link NcclCommunicator#awaitReady} (forming) or {@link NcclCommunicator#await} (broadcasting) then
 * ends, so every surviving rank fails as soon as its control plane hears of the failure, not at the deadline.
 */
final class NcclTransport implements Transport, GroupTransport<Transport.DeviceGroup> {
    static final String NAME = "nccl";
    private final int device;
    private final CommunicatorFactory communicators;

    NcclTransport(int device) {
        this(device, NcclCommunicator::begin);
    }

    NcclTransport(int device, CommunicatorFactory communicators) {
        if (device < 0) {
            throw new IllegalArgumentException("device must be non-negative: " + device);
        }
        this.device = device;
        this.communicators = communicators;
    }

    /**
     * Begins a rank's communicator: {@link NcclCommunicator#begin}, except in tests on the single-rank fake NCCL,
     * which give every rank a communicator of its own.
     */
    @FunctionalInterface
    interface CommunicatorFactory {
        NcclCommunicator begin(NcclUniqueId id, int worldSize, int rank);
    }

    @Override
    public String name() {
        return NAME;
    }

    /** The CUDA device this rank's buckets live on (made current on every thread that runs an update). */
    int device() {
        return device;
    }

    @Override
    public RootFormation<DeviceGroup> openRendezvous(InetAddress bindAddress, int worldSize) {
        return new CommunicatorFormation(NcclUniqueId.generate(), 0, worldSize);
    }

    @Override
    public Formation<DeviceGroup> join(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize) {
        if (rendezvous.length != NcclUniqueId.BYTES) {
            throw new ProtocolException("nccl rendezvous has " + rendezvous.length + " bytes, expected "
                    + NcclUniqueId.BYTES);
        }
        return new CommunicatorFormation(NcclUniqueId.fromBytes(rendezvous), rank, worldSize);
    }

    static Duration remaining(long deadlineNanos) {
        return Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime()));
    }

    /**
     * The sync layer's view of a native failure: NCCL's errors involve the peers; anything else (a CUDA error of this
     * rank's stream or event, an interrupted wait) is this rank's own, {@link FailureReason#LOCAL_ERROR}. An abort
     * from another thread reads as {@link FailureReason#CLOSED}: that thread holds the real reason.
     */
    static TransportException translate(PanamaNcclException e, String what) {
        // instanceof, not a type switch: a failure path runs cold (see Failure.of)
        FailureReason reason = e instanceof NcclTimeoutException ? FailureReason.DEADLINE
                : e instanceof NcclAbortedException ? FailureReason.CLOSED
                : e instanceof NcclException ? FailureReason.PEER_LOST : FailureReason.LOCAL_ERROR;
        String where = reason == FailureReason.LOCAL_ERROR ? " failed on this rank (no peer at fault): " : " failed: ";
        return new TransportException(reason, UpdateFailedException.UNKNOWN_RANK, what + where + e.getMessage(), e);
    }

    /**
     * One rank's communicator from begin to ready. The owning thread begins it and waits in {@link #awaitGroup};
     * {@link #abort()}, from any thread, aborts the forming communicator, which ends that wait at once.
     */
    private final class CommunicatorFormation implements RootFormation<DeviceGroup> {
        private final NcclUniqueId id;
        private final int rank;
        private final int worldSize;
        private volatile boolean aborted;
        /** Between begin and hand-over to the group; what {@link #abort()} aborts. */
        private volatile NcclCommunicator forming;
        private volatile PanamaNcclException abortFailure;

        CommunicatorFormation(NcclUniqueId id, int rank, int worldSize) {
            this.id = id;
            this.rank = rank;
            this.worldSize = worldSize;
        }

        @Override
        public byte[] bytes() {
            return id.toBytes();
        }

        @Override
        public DeviceGroup awaitGroup(long deadlineNanos) {
            String what = "forming the NCCL communicator (rank " + rank + " of " + worldSize + ")";
            if (aborted) {
                throw TransportException.aborted("nccl group formation", null);
            }
            Cuda.setDevice(device);
            NcclCommunicator comm;
            try {
                comm = communicators.begin(id, worldSize, rank);
            } catch (PanamaNcclException e) {
                throw translate(e, what);
            }
            forming = comm;
            try {
                if (aborted) {
                    abortQuietly(comm); // abort() came while the communicator was being begun
                }
                comm.awaitReady(remaining(deadlineNanos));
            } catch (PanamaNcclException e) {
                TransportException failure = translate(e, what); // awaitReady aborted the communicator
                if (abortFailure != null) {
                    failure.addSuppressed(abortFailure);
                }
                throw failure;
            } finally {
                forming = null;
            }
            try {
                return new NcclGroup(comm, rank, worldSize, CudaStream.create());
            } catch (RuntimeException e) {
                comm.abort();
                throw e;
            }
        }

        @Override
        public void abort() {
            aborted = true;
            NcclCommunicator comm = forming;
            if (comm != null) {
                abortQuietly(comm);
            }
        }

        private void abortQuietly(NcclCommunicator comm) {
            try {
                comm.abort();
            } catch (PanamaNcclException e) {
                abortFailure = e; // reported by the owning thread with the aborted formation
            }
        }

        @Override
        public void close() {
            // a unique id holds nothing, and a formation that failed aborted its communicator
        }
    }

    /** One communicator and its stream: the owning thread broadcasts, waits and closes; any thread may abort. */
    static final class NcclGroup extends GroupBase implements DeviceGroup {
        private final NcclCommunicator comm;
        private final CudaStream stream;
        private volatile PanamaNcclException abortFailure;
        private boolean released;

        NcclGroup(NcclCommunicator comm, int rank, int worldSize, CudaStream stream) {
            super(NAME, rank, worldSize);
            this.comm = comm;
            this.stream = stream;
        }

        @Override
        public CudaStream stream() {
            return stream;
        }

        @Override
        public void broadcast(DeviceMemory bucket, BucketTag tag, CudaEvent ready, CudaEvent done) {
            checkNotAborted();
            String what = "ncclBroadcast of bucket " + tag.bucket() + " of version " + tag.version();
            try {
                if (ready != null) {
                    stream.waitEvent(ready);
                }
                // In place on every rank: NCCL reads the send buffer on the root only.
                comm.broadcast(bucket, bucket, bucket.byteSize(), NcclDataType.UINT8, 0, stream);
            } catch (PanamaNcclException e) {
                throw translate(e, what);
            } catch (IllegalStateException e) {
                throw abortedElsewhere(e);
            }
            countCall();
            if (done != null) {
                try {
                    done.record(stream);
                } catch (PanamaNcclException e) {
                    throw translate(e, "recording the end of the " + what);
                }
            }
        }

        /**
         * An {@link #abort()} from another thread, during the wait or just before it, ends it with
         * NcclAbortedException, reported as {@link FailureReason#CLOSED}.
         */
        @Override
        public void await(long deadlineNanos) {
            checkNotAborted();
            try {
                comm.await(stream, remaining(deadlineNanos));
            } catch (PanamaNcclException e) {
                // NcclCommunicator.await aborted the communicator itself on an NCCL error or the deadline, and
                // abort() did on an abort; a CUDA error of the stream (cudaStreamQuery) leaves it open: abort it
                // here, so that nothing of the group is left running (a no-op when already aborted).
                abortQuietly();
                released = true;
                stream.close();
                TransportException failure = translate(e, "waiting for the broadcast");
                if (abortFailure != null) {
                    failure.addSuppressed(abortFailure);
                }
                throw failure;
            }
        }

        /** The communicator refuses a broadcast once another thread aborted it: that abort is the failure to report. */
        private RuntimeException abortedElsewhere(IllegalStateException refused) {
            if (!isAborted()) {
                return refused;
            }
            TransportException aborted = abortedException(abortFailure);
            aborted.addSuppressed(refused);
            return aborted;
        }

        /** From any thread: ncclCommAbort now, which ends this rank's wait in {@link #await}. Never throws. */
        @Override
        public void abort() {
            markAborted();
            abortQuietly();
        }

        private void abortQuietly() {
            try {
                comm.abort();
            } catch (PanamaNcclException e) {
                abortFailure = e; // reported by the owning thread with the abort
            }
        }

        /** On the owning thread: finalizes the communicator (nothing to do after an abort) and frees the stream. */
        @Override
        public void close() {
            if (released) {
                return;
            }
            released = true;
            try {
                comm.close();
            } finally {
                stream.close();
            }
        }
    }
}
