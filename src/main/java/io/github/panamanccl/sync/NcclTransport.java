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
 * each bucket is one {@code ncclBroadcast} of bytes from rank 0 (in place on the root).
 *
 * <p>Aborting: {@link NcclCommunicator} must not be aborted while another thread polls it, so
 * {@link Group#abort()} from another thread only raises a flag; the thread that owns the group aborts the
 * communicator at its next check, and a broadcast already in flight ends at the latest at the update's deadline,
 * when {@link NcclCommunicator#await} aborts it itself. Every rank is therefore released within the deadline.
 */
final class NcclTransport implements Transport {
    static final String NAME = "nccl";
    private final int device;

    NcclTransport(int device) {
        if (device < 0) {
            throw new IllegalArgumentException("device must be non-negative: " + device);
        }
        this.device = device;
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
            comm = NcclCommunicator.create(id, worldSize, rank, remaining(deadlineNanos));
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

    /** One communicator and its stream, used by one thread at a time. */
    static final class NcclGroup implements DeviceGroup {
        private final NcclCommunicator comm;
        private final int rank;
        private final int worldSize;
        private final CudaStream stream;
        private volatile boolean abortRequested;
        private boolean released;
        private long calls;

        NcclGroup(NcclCommunicator comm, int rank, int worldSize, CudaStream stream) {
            this.comm = comm;
            this.rank = rank;
            this.worldSize = worldSize;
            this.stream = stream;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int worldSize() {
            return worldSize;
        }

        @Override
        public long collectiveCalls() {
            return calls;
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
                comm.broadcast(rank == 0 ? bucket : null, bucket, bucket.byteSize(), NcclDataType.UINT8, 0, stream);
            } catch (NcclException e) {
                throw translate(e, "ncclBroadcast of bucket " + tag.bucket() + " of version " + tag.version());
            }
            calls++;
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
            }
            checkNotAborted();
        }

        /** Called on the owning thread: performs an abort another thread requested. */
        private void checkNotAborted() {
            if (abortRequested) {
                release(true);
                throw new TransportException(Kind.ABORTED, UpdateFailedException.UNKNOWN_RANK,
                        "nccl group was aborted", null);
            }
        }

        @Override
        public void abort() {
            abortRequested = true;
        }

        /** On the owning thread (the update's): aborts if an abort was requested, else finalizes. Idempotent. */
        @Override
        public void close() {
            release(abortRequested);
        }

        private void release(boolean abort) {
            if (released) {
                return;
            }
            released = true;
            try {
                if (abort) {
                    comm.abort();
                } else {
                    comm.close();
                }
            } finally {
                stream.close();
            }
        }
    }
}
