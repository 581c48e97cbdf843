package io.github.panamanccl.sync;

import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * Host memory over TCP. The root keeps one connection per receiver and writes each bucket to all of them at
 * once (non-blocking, multiplexed), prefixed by a {@link BucketHeader}; a receiver checks every header field and
 * the checksum, so a wrong, stale or damaged bucket is reported instead of applied. The rendezvous is a port plus a
 * random 32-byte secret each data connection must present; the root acknowledges every hello it accepts, so a
 * receiver knows it is in the group, and one that is turned away fails at once.
 */
final class HostTcpTransport implements Transport, GroupTransport<HostSpanGroup> {
    static final HostTcpTransport INSTANCE = new HostTcpTransport();
    static final String NAME = "host-tcp";

    private static final int HELLO_MAGIC = 0x504E4454; // "PNDT"
    private static final int ACK_MAGIC = 0x504E414B; // "PNAK"
    private static final int HELLO_BYTES = 8 + 32;
    private static final int ACK_BYTES = 8;
    private static final int SECRET_BYTES = 32;
    /** A ByteBuffer holds at most 2 GiB; larger buckets travel as several chunks. */
    private static final long CHUNK_BYTES = 1L << 30;
    private static final SecureRandom RANDOM = new SecureRandom();
    /** How long an accepted data connection may take to present its hello; a legitimate one sends it at once. */
    private static final long HELLO_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);
    /**
     * Unauthenticated connections whose hello is awaited at once; a newcomer beyond that displaces the oldest of them
     * (never a receiver that has presented the secret), after one last look at what that one sent.
     */
    static final int MAX_PENDING_HELLOS = 256;

    private HostTcpTransport() {
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public RootFormation<HostSpanGroup> openRendezvous(InetAddress bindAddress, int worldSize) {
        byte[] secret = new byte[SECRET_BYTES];
        RANDOM.nextBytes(secret);
        try {
            ServerSocketChannel server = ServerSocketChannel.open();
            try {
                // Room for every receiver and every connection a flood may hold while they connect.
                server.bind(new InetSocketAddress(bindAddress, 0), worldSize + MAX_PENDING_HELLOS);
                server.configureBlocking(false);
                return new RootRendezvous(server, secret, worldSize);
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
        } catch (IOException e) {
            throw new TransportException(FailureReason.LOCAL_ERROR, 0, "cannot open the host-tcp data port on "
                    + bindAddress + ": " + e.getMessage(), e);
        }
    }

    @Override
    public Formation<HostSpanGroup> join(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize) {
        if (rendezvous.length != 4 + SECRET_BYTES) {
            throw new ProtocolException("host-tcp rendezvous has " + rendezvous.length + " bytes, expected "
                    + (4 + SECRET_BYTES));
        }
        ByteBuffer in = ByteBuffer.wrap(rendezvous);
        int port = in.getInt();
        if (port < 1 || port > 65535) {
            throw new ProtocolException("host-tcp rendezvous port is " + port + ", must be in [1, 65535]");
        }
        ByteBuffer hello = ByteBuffer.allocate(HELLO_BYTES).putInt(HELLO_MAGIC).putInt(rank)
                .put(rendezvous, 4, SECRET_BYTES).flip();
        return new JoiningReceiver(new InetSocketAddress(senderAddress, port), hello, rank, worldSize);
    }

    static TransportException failure(IOException e, int peer, String what) {
        FailureReason reason = e instanceof SocketTimeoutException ? FailureReason.DEADLINE : FailureReason.PEER_LOST;
        return new TransportException(reason, peer, what + " failed: " + e.getMessage(), e);
    }

    /** The segment as ByteBuffers of at most {@link #CHUNK_BYTES}. */
    static ByteBuffer[] chunks(MemorySegment segment) {
        int n = (int) Math.max(1, (segment.byteSize() + CHUNK_BYTES - 1) / CHUNK_BYTES);
        ByteBuffer[] chunks = new ByteBuffer[n];
        for (int i = 0; i < n; i++) {
            long offset = i * CHUNK_BYTES;
            chunks[i] = segment.asSlice(offset, Math.min(CHUNK_BYTES, segment.byteSize() - offset)).asByteBuffer();
        }
        return chunks;
    }

    static int crc32c(MemorySegment segment) {
        CRC32C crc = new CRC32C();
        for (ByteBuffer chunk : chunks(segment)) {
            crc.update(chunk);
        }
        return (int) crc.getValue();
    }

    /**
     * A receiver's data connection until the root has acknowledged its hello; {@link #abort()} closes it. A root
     * that closes the connection instead (its formation was aborted) fails the join at once.
     */
    private static final class JoiningReceiver implements Formation<HostSpanGroup> {
        private final InetSocketAddress root;
        private final ByteBuffer hello;
        private final int rank;
        private final int worldSize;
        private volatile boolean aborted;
        /** Between connecting and hand-over to the group; what {@link #abort()} closes. */
        private volatile DeadlineChannel connecting;

        JoiningReceiver(InetSocketAddress root, ByteBuffer hello, int rank, int worldSize) {
            this.root = root;
            this.hello = hello;
            this.rank = rank;
            this.worldSize = worldSize;
        }

        @Override
        public HostSpanGroup awaitGroup(long deadlineNanos) {
            checkNotAborted(null);
            DeadlineChannel channel = null;
            try {
                channel = DeadlineChannel.connect(root, deadlineNanos);
                connecting = channel;
                checkNotAborted(null); // abort() may have come before the channel was published
                channel.writeFully(new ByteBuffer[] {hello.duplicate()}, deadlineNanos);
                ByteBuffer ack = ByteBuffer.allocate(ACK_BYTES);
                channel.readFully(ack, deadlineNanos);
                if (ack.getInt(0) != ACK_MAGIC || ack.getInt(4) != rank) {
                    throw new TransportException(FailureReason.PROTOCOL, 0, "the host-tcp root at " + root
                            + " answered the hello of rank " + rank + " with something else than its acknowledgement",
                            null);
                }
                checkNotAborted(null);
                HostSpanGroup group = new TcpReceiverGroup(channel, rank, worldSize);
                channel = null; // handed over
                return group;
            } catch (EOFException e) {
                checkNotAborted(e);
                throw new TransportException(FailureReason.PEER_LOST, 0, "the host-tcp root at " + root + " closed "
                        + "the data connection of rank " + rank + " before acknowledging it (its group formation "
                        + "ended)", e);
            } catch (IOException e) {
                checkNotAborted(e); // abort() closing the channel surfaces as an IOException
                throw failure(e, 0, "joining the host-tcp group at " + root);
            } finally {
                connecting = null;
                if (channel != null) {
                    channel.close();
                }
            }
        }

        private void checkNotAborted(IOException cause) {
            if (aborted) {
                throw TransportException.aborted("joining the host-tcp group", cause);
            }
        }

        @Override
        public void abort() {
            aborted = true;
            DeadlineChannel channel = connecting;
            if (channel != null) {
                channel.close();
            }
        }

        @Override
        public void close() {
            // awaitGroup closes a channel it did not hand to a group
        }
    }

    /** The root's listening socket until every receiver has presented the secret. */
    private static final class RootRendezvous implements RootFormation<HostSpanGroup> {
        private final ServerSocketChannel server;
        private final byte[] secret;
        private final int worldSize;
        private final byte[] bytes;
        private volatile boolean aborted;
        /** While awaitGroup waits for connections; {@link #abort()} wakes it. */
        private volatile Selector selector;

        RootRendezvous(ServerSocketChannel server, byte[] secret, int worldSize) throws IOException {
            this.server = server;
            this.secret = secret;
            this.worldSize = worldSize;
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            this.bytes = ByteBuffer.allocate(4 + SECRET_BYTES).putInt(port).put(secret).array();
        }

        @Override
        public byte[] bytes() {
            return bytes.clone();
        }

        /**
         * Accepts connections and reads their hellos side by side on one selector, so a connection that sends
         * nothing (or too little) delays nobody: it is closed once {@link #HELLO_TIMEOUT_NANOS} passes, or when
         * more than {@link #MAX_PENDING_HELLOS} newer ones wait, and every connection that has not become a member
         * is closed when the wait ends, whatever the outcome.
         */
        @Override
        public HostSpanGroup awaitGroup(long deadlineNanos) {
            DeadlineChannel[] peers = new DeadlineChannel[worldSize];
            Map<SocketChannel, PendingHello> pending = new LinkedHashMap<>(); // oldest first
            Joined joined = new Joined(peers);
            try (Selector waiting = Selector.open()) {
                selector = waiting;
                server.register(waiting, SelectionKey.OP_ACCEPT);
                while (joined.count < worldSize - 1) {
                    if (aborted) {
                        throw TransportException.aborted("host-tcp group formation (" + joined.count + " of "
                                + (worldSize - 1) + " receivers joined)", null);
                    }
                    for (PendingHello hello : List.copyOf(pending.values())) {
                        if (hello.settle(secret, joined)) {
                            pending.remove(hello.channel);
                        }
                    }
                    acceptAll(waiting, pending, joined);
                    if (joined.count < worldSize - 1) {
                        waiting.select(Math.min(nextExpiryMillis(pending), DeadlineChannel.remainingMillis(
                                deadlineNanos, "host-tcp group formation (" + joined.count + " of " + (worldSize - 1)
                                        + " receivers)")));
                        waiting.selectedKeys().clear();
                    }
                }
                return new TcpRootGroup(peers);
            } catch (IOException e) {
                closeAll(peers);
                throw failure(e, UpdateFailedException.UNKNOWN_RANK, "host-tcp group formation");
            } catch (RuntimeException e) {
                closeAll(peers);
                throw e;
            } finally {
                selector = null;
                pending.values().forEach(PendingHello::close);
                close();
            }
        }

        /**
         * Takes every waiting connection off the listening socket. Beyond {@link #MAX_PENDING_HELLOS}, the oldest
         * pending one gets a last read and is closed unless that completed its hello.
         */
        private void acceptAll(Selector waiting, Map<SocketChannel, PendingHello> pending, Joined joined)
                throws IOException {
            SocketChannel accepted;
            while ((accepted = server.accept()) != null) {
                if (pending.size() >= MAX_PENDING_HELLOS) {
                    Iterator<PendingHello> oldest = pending.values().iterator();
                    PendingHello displaced = oldest.next();
                    oldest.remove();
                    if (!displaced.settle(secret, joined)) {
                        displaced.close();
                    }
                }
                try {
                    accepted.configureBlocking(false);
                    pending.put(accepted, new PendingHello(accepted, accepted.register(waiting, SelectionKey.OP_READ)));
                } catch (IOException | RuntimeException e) {
                    accepted.close();
                }
            }
        }

        private static long nextExpiryMillis(Map<SocketChannel, PendingHello> pending) {
            if (pending.isEmpty()) {
                return Long.MAX_VALUE;
            }
            // The oldest expires first.
            long left = pending.values().iterator().next().expiresNanos - System.nanoTime();
            return Math.max(1, TimeUnit.NANOSECONDS.toMillis(left));
        }

        /** Wakes a waiting {@link #awaitGroup}, which then fails. */
        @Override
        public void abort() {
            aborted = true;
            Selector waiting = selector;
            if (waiting != null) {
                waiting.wakeup();
            }
        }

        @Override
        public void close() {
            Pipelines.closeQuietly(server);
        }
    }

    /** The receivers that have joined a forming group, by rank. */
    private static final class Joined {
        final DeadlineChannel[] peers;
        int count;

        Joined(DeadlineChannel[] peers) {
            this.peers = peers;
        }
    }

    /** An accepted data connection whose hello is being read, without blocking, until it expires. */
    private static final class PendingHello {
        final SocketChannel channel;
        final SelectionKey key;
        final ByteBuffer bytes = ByteBuffer.allocate(HELLO_BYTES);
        final long expiresNanos = System.nanoTime() + HELLO_TIMEOUT_NANOS;

        PendingHello(SocketChannel channel, SelectionKey key) {
            this.channel = channel;
            this.key = key;
        }

        /**
         * Reads what has arrived. Returns false while the hello is incomplete and time is left; true once this
         * connection is settled: it joined (acknowledged and handed to {@code joined}), or it was wrong, stray,
         * forged, a duplicate of a rank that joined, broken or too slow, and is closed.
         */
        boolean settle(byte[] secret, Joined joined) {
            try {
                if (channel.read(bytes) < 0) {
                    close();
                    return true;
                }
                if (bytes.hasRemaining()) {
                    if (System.nanoTime() - expiresNanos < 0) {
                        return false;
                    }
                    close();
                    return true;
                }
                int rank = rankOf(bytes.flip(), secret);
                if (rank < 1 || rank >= joined.peers.length || joined.peers[rank] != null
                        || channel.write(ByteBuffer.allocate(ACK_BYTES).putInt(ACK_MAGIC).putInt(rank).flip())
                        != ACK_BYTES) {
                    close();
                    return true;
                }
                key.cancel();
                joined.peers[rank] = DeadlineChannel.wrap(channel);
                joined.count++;
            } catch (IOException e) {
                close();
            }
            return true;
        }

        /** The rank a complete hello claims, or -1 when its magic or secret is wrong. */
        static int rankOf(ByteBuffer hello, byte[] secret) {
            int magic = hello.getInt();
            int rank = hello.getInt();
            byte[] presented = new byte[SECRET_BYTES];
            hello.get(presented);
            return magic == HELLO_MAGIC && MessageDigest.isEqual(presented, secret) ? rank : -1;
        }

        void close() {
            Pipelines.closeQuietly(channel);
        }
    }

    private static void closeAll(DeadlineChannel[] channels) {
        for (DeadlineChannel c : channels) {
            if (c != null) {
                c.close();
            }
        }
    }

    /**
     * A rank of a host-tcp group: every bucket, a {@link #broadcast} of one segment or the pipelines' spans, moves
     * through {@link #send} or {@link #receive}; abort closes the channels.
     */
    private abstract static class TcpGroup extends GroupBase implements HostSpanGroup {
        TcpGroup(int rank, int worldSize) {
            super(NAME, rank, worldSize);
        }

        @Override
        public void broadcast(MemorySegment bucket, BucketTag tag, long deadlineNanos) {
            if (rank() == 0) {
                send(chunks(bucket), bucket.byteSize(), crc32c(bucket), tag, deadlineNanos);
            } else {
                receive(chunks(bucket), bucket.byteSize(), tag, () -> { }, deadlineNanos);
            }
        }

        @Override
        public void send(ByteBuffer[] spans, long byteSize, int crc32c, BucketTag tag, long deadlineNanos) {
            ByteBuffer header = new BucketHeader(tag.version(), tag.bucket(), tag.bucketCount(), byteSize, crc32c)
                    .encode();
            move(tag, () -> write(header, checkedSpans(spans, byteSize), tag, deadlineNanos));
        }

        @Override
        public void receive(ByteBuffer[] spans, long byteSize, BucketTag tag, Runnable landing, long deadlineNanos) {
            ByteBuffer[] into = checkedSpans(spans, byteSize);
            move(tag, () -> read(into, byteSize, tag, landing, deadlineNanos));
        }

        /** Runs one transfer, counted, with its I/O failures (and those an abort causes) as the group's. */
        private void move(BucketTag tag, Transfer transfer) {
            checkNotAborted();
            countCall();
            try {
                transfer.run();
            } catch (IOException e) {
                checkNotAborted();
                throw failure(e, peerOf(e), "broadcast of bucket " + tag.bucket() + " of version " + tag.version());
            } catch (RuntimeException e) {
                checkNotAborted(); // a selector or key closed by abort() surfaces as an unchecked exception
                throw e;
            }
            checkNotAborted();
        }

        /** Root: the header, then the spans (duplicates of the templates), to every receiver. */
        void write(ByteBuffer header, ByteBuffer[] spans, BucketTag tag, long deadlineNanos) throws IOException {
            throw new IllegalStateException("rank " + rank() + " receives; only the root (rank 0) sends");
        }

        /** Receiver: the header, checked, then the spans (duplicates), checksummed as they fill. */
        void read(ByteBuffer[] spans, long byteSize, BucketTag tag, Runnable landing, long deadlineNanos)
                throws IOException {
            throw new IllegalStateException("the root (rank 0) sends; only receivers receive");
        }

        /** The rank a transfer failure is attributed to. */
        abstract int peerOf(IOException e);

        abstract void closeChannels();

        @Override
        public void abort() {
            markAborted();
            closeChannels();
        }

        @Override
        public void close() {
            closeChannels();
        }
    }

    /** One transfer's I/O. */
    @FunctionalInterface
    private interface Transfer {
        void run() throws IOException;
    }

    /** Duplicates of {@code spans}, checked to hold {@code byteSize} bytes in all. */
    static ByteBuffer[] checkedSpans(ByteBuffer[] spans, long byteSize) {
        ByteBuffer[] copies = new ByteBuffer[spans.length];
        long bytes = 0;
        for (int i = 0; i < spans.length; i++) {
            copies[i] = spans[i].duplicate();
            bytes += copies[i].remaining();
        }
        if (bytes != byteSize) {
            throw new IllegalArgumentException("the spans hold " + bytes + " bytes, the bucket has " + byteSize);
        }
        return copies;
    }

    /** Rank 0: writes each bucket to every receiver, interleaved so one slow receiver does not serialise the rest. */
    private static final class TcpRootGroup extends TcpGroup {
        private final DeadlineChannel[] peers; // index = rank, [0] unused
        private final Selector selector;
        private final SelectionKey[] keys;
        private int failedPeer = UpdateFailedException.UNKNOWN_RANK;

        TcpRootGroup(DeadlineChannel[] peers) throws IOException {
            super(0, peers.length);
            this.peers = peers;
            this.selector = Selector.open();
            this.keys = new SelectionKey[peers.length];
            for (int r = 1; r < peers.length; r++) {
                keys[r] = peers[r].channel().register(selector, 0);
            }
        }

        @Override
        void write(ByteBuffer header, ByteBuffer[] spans, BucketTag tag, long deadlineNanos) throws IOException {
            List<ByteBuffer[]> pending = new ArrayList<>(peers.length);
            List<Integer> pendingRanks = new ArrayList<>(peers.length);
            List<Integer> firstLeft = new ArrayList<>(peers.length); // the buffers before it are written
            for (int r = 1; r < peers.length; r++) {
                ByteBuffer[] buffers = new ByteBuffer[spans.length + 1];
                buffers[0] = header.duplicate();
                for (int i = 0; i < spans.length; i++) {
                    buffers[i + 1] = r == 1 ? spans[i] : spans[i].duplicate();
                }
                pending.add(buffers);
                pendingRanks.add(r);
                firstLeft.add(0);
            }
            while (!pending.isEmpty()) {
                for (int i = pending.size() - 1; i >= 0; i--) {
                    int r = pendingRanks.get(i);
                    failedPeer = r;
                    int first = peers[r].writeSome(pending.get(i), firstLeft.get(i));
                    if (first < pending.get(i).length) {
                        firstLeft.set(i, first);
                        keys[r].interestOps(SelectionKey.OP_WRITE);
                    } else {
                        keys[r].interestOps(0);
                        pending.remove(i);
                        pendingRanks.remove(i);
                        firstLeft.remove(i);
                    }
                }
                failedPeer = UpdateFailedException.UNKNOWN_RANK;
                if (!pending.isEmpty()) {
                    selector.select(DeadlineChannel.remainingMillis(deadlineNanos,
                            "sending bucket " + tag.bucket() + " to ranks " + pendingRanks));
                    selector.selectedKeys().clear();
                }
            }
        }

        @Override
        int peerOf(IOException e) {
            return failedPeer;
        }

        @Override
        void closeChannels() {
            closeAll(peers);
            Pipelines.closeQuietly(selector); // wakes a select in progress
        }
    }

    /** A receiver: reads each bucket from the root, checks its header, and checksums its bytes as they arrive. */
    private static final class TcpReceiverGroup extends TcpGroup {
        private final DeadlineChannel channel;
        private final ByteBuffer header = ByteBuffer.allocate(BucketHeader.BYTES);

        TcpReceiverGroup(DeadlineChannel channel, int rank, int worldSize) {
            super(rank, worldSize);
            this.channel = channel;
        }

        @Override
        void read(ByteBuffer[] spans, long byteSize, BucketTag tag, Runnable landing, long deadlineNanos)
                throws IOException {
            header.clear();
            channel.readFully(header, deadlineNanos);
            BucketHeader received = BucketHeader.decode(header.flip());
            received.expect(tag, byteSize);
            landing.run();
            ArrivingChecksum checksum = new ArrivingChecksum(spans);
            channel.readFully(spans, checksum::catchUp, deadlineNanos);
            int actualCrc = checksum.value();
            if (actualCrc != received.crc32c()) {
                throw BucketHeader.corrupt("bucket " + tag.bucket() + " of version " + tag.version() + " is corrupt: "
                        + "CRC32C is 0x" + Integer.toHexString(actualCrc) + ", header says 0x"
                        + Integer.toHexString(received.crc32c()));
            }
        }

        @Override
        int peerOf(IOException e) {
            return 0;
        }

        @Override
        void closeChannels() {
            channel.close();
        }
    }

    /**
     * CRC32C of the bytes read into a list of buffers so far, in order, brought up to date after every read: each
     * byte is checksummed right after the kernel copied it, while it is still in the cache.
     */
    private static final class ArrivingChecksum {
        private final ByteBuffer[] filling;
        /** Views of the same bytes: position = checksummed up to there. */
        private final ByteBuffer[] summed;
        private final CRC32C crc = new CRC32C();
        private int current;

        ArrivingChecksum(ByteBuffer[] filling) {
            this.filling = filling;
            this.summed = new ByteBuffer[filling.length];
            for (int i = 0; i < filling.length; i++) {
                summed[i] = filling[i].duplicate();
            }
        }

        void catchUp() {
            while (current < filling.length) {
                ByteBuffer view = summed[current];
                view.limit(filling[current].position());
                crc.update(view);
                if (filling[current].hasRemaining()) {
                    return;
                }
                current++;
            }
        }

        int value() {
            return (int) crc.getValue();
        }
    }
}
