package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclDataType;
import io.github.panamanccl.NcclException;
import io.github.panamanccl.NcclTimeoutException;
import io.github.panamanccl.NcclUniqueId;
import io.github.panamanccl.PanamaNcclException;
import io.github.panamanccl.sync.TransportException.Kind;

import java.net.InetAddress;
import java.time.Duration;

/**
 * NCCL: the rendezvous is an {@code ncclUniqueId}; each rank creates a non-blocking communicator on its device;
 * each bucket is one {@code ncclBroadcast} of bytes from rank 0 (in place on every rank).
 *
 * <p>Aborting: {@link Group#abort()} aborts the communicator at once from whichever thread calls it (the control
 * plane's, when a peer is lost or reports an error; the deadline watchdog's). {@link NcclCommunicator} lets that
 * abort wait for a native call in progress, and the rank's own wait in {@link NcclCommunicator#await} then ends,
 * so every surviving rank fails as soon as its control plane hears of the failure, not at the deadline.
 */
final class NcclTransport implements Transport {
    static final String NAME = "nccl";
    private final int device;
    private final CommunicatorFactory communicators;

    NcclTransport(int device) {
        this(device, NcclCommunicator::create);
    }

    NcclTransport(int device, CommunicatorFactory communicators) {
        if (device < 0) {
            throw new IllegalArgumentException("device must be non-negative: " + device);
        }
        this.device = device;
        this.communicators = communicators;
    }

    /**
     * Creates a rank's communicator: {@link NcclCommunicator#create}, except in tests on the single-rank fake NCCL,
     * which give every rank a communicator of its own.
     */
    @FunctionalInterface
    interface CommunicatorFactory {
        NcclCommunicator create(NcclUniqueId id, int worldSize, int rank, Duration deadline);
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
    public Rendezvous openRendezvous(InetAddress bindAddress, int worldSize) {
        NcclUniqueId id = NcclUniqueId.generate();
        return new Rendezvous() {
            @Override
            public byte[] bytes() {
                return id.toBytes();
            }

            @Override
            public Group awaitGroup(long deadlineNanos) {
                return create(id, 0, worldSize, deadlineNanos);
            }

            @Override
            public void close() {
                // an unused unique id holds nothing
            }
        };
    }

    @Override
    public Group connect(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize, long deadlineNanos) {
        if (rendezvous.length != NcclUniqueId.BYTES) {
            throw new ProtocolException("nccl rendezvous has " + rendezvous.length + " bytes, expected "
                    + NcclUniqueId.BYTES);
        }
        return create(NcclUniqueId.fromBytes(rendezvous), rank, worldSize, deadlineNanos);
    }

    private NcclGroup create(NcclUniqueId id, int rank, int worldSize, long deadlineNanos) {
        Cuda.setDevice(device);
        NcclCommunicator comm;
        try {
            comm = communicators.create(id, worldSize, rank, remaining(deadlineNanos));
        } catch (PanamaNcclException e) {
            throw translate(e, "creating the NCCL communicator (rank " + rank + " of " + worldSize + ")");
        }
        try {
            return new NcclGroup(comm, rank, worldSize, CudaStream.create());
        } catch (RuntimeException e) {
            comm.abort();
            throw e;
        }
    }

    static Duration remaining(long deadlineNanos) {
        return Duration.ofNanos(Math.max(1, deadlineNanos - System.nanoTime()));
    }

    static TransportException translate(PanamaNcclException e, String what) {
        Kind kind = e instanceof NcclTimeoutException ? Kind.DEADLINE : Kind.PEER_FAILED;
        return new TransportException(kind, UpdateFailedException.UNKNOWN_RANK, what + " failed: " + e.getMessage(), e);
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
            if (ready != null) {
                stream.waitEvent(ready);
            }
            try {
                // In place on every rank: NCCL reads the send buffer on the root only.
                comm.broadcast(bucket, bucket, bucket.byteSize(), NcclDataType.UINT8, 0, stream);
            } catch (NcclException e) {
                throw translate(e, "ncclBroadcast of bucket " + tag.bucket() + " of version " + tag.version());
            } catch (IllegalStateException e) {
                throw abortedElsewhere(e);
            }
            countCall();
            done.record(stream);
        }

        @Override
        public void await(long deadlineNanos) {
            checkNotAborted();
            try {
                comm.await(stream, remaining(deadlineNanos));
            } catch (PanamaNcclException e) {
                released = true; // await aborted the communicator itself
                stream.close();
                throw translate(e, "waiting for the broadcast");
            } catch (IllegalStateException e) {
                throw abortedElsewhere(e);
            }
        }

        /** The communicator refuses calls once another thread aborted it: that abort is the failure to report. */
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
