package io.github.panamanccl.sync;

import io.github.panamanccl.sync.TransportException.Kind;

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
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * Host memory over TCP. The root keeps one connection per receiver and writes each bucket to all of them at
 * once (non-blocking, multiplexed), prefixed by a 32-byte header carrying version, bucket index, bucket count,
 * length and the CRC32C of the bytes; a receiver checks every header field and the checksum, so a wrong,
 * stale or damaged bucket is reported instead of applied. The rendezvous is a port plus a random 32-byte
 * secret each data connection must present.
 */
final class HostTcpTransport implements Transport {
    static final HostTcpTransport INSTANCE = new HostTcpTransport();
    static final String NAME = "host-tcp";

    private static final int HELLO_MAGIC = 0x504E4454; // "PNDT"
    private static final int BUCKET_MAGIC = 0x504E424B; // "PNBK"
    private static final int SECRET_BYTES = 32;
    private static final int HEADER_BYTES = 32;
    /** A ByteBuffer holds at most 2 GiB; larger buckets travel as several chunks. */
    private static final long CHUNK_BYTES = 1L << 30;
    private static final SecureRandom RANDOM = new SecureRandom();
    /** How long an accepted data connection may take to present its hello; a legitimate one sends it at once. */
    private static final long HELLO_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);
    /** Connections whose hello is awaited at once; more are closed on arrival. */
    private static final int MAX_PENDING_HELLOS = 64;

    private HostTcpTransport() {
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Rendezvous openRendezvous(InetAddress bindAddress, int worldSize) {
        byte[] secret = new byte[SECRET_BYTES];
        RANDOM.nextBytes(secret);
        try {
            ServerSocketChannel server = ServerSocketChannel.open();
            try {
                server.bind(new InetSocketAddress(bindAddress, 0), worldSize);
                server.configureBlocking(false);
                return new Root(server, secret, worldSize);
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
        } catch (IOException e) {
            throw new TransportException(Kind.PEER_FAILED, 0, "cannot open the host-tcp data port on " + bindAddress, e);
        }
    }

    @Override
    public PendingGroup join(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize) {
        if (rendezvous.length != 4 + SECRET_BYTES) {
            throw new ProtocolException("host-tcp rendezvous has " + rendezvous.length + " bytes, expected "
                    + (4 + SECRET_BYTES));
        }
        ByteBuffer in = ByteBuffer.wrap(rendezvous);
        int port = in.getInt();
        if (port < 1 || port > 65535) {
            throw new ProtocolException("host-tcp rendezvous port is " + port + ", must be in [1, 65535]");
        }
        ByteBuffer hello = ByteBuffer.allocate(8 + SECRET_BYTES).putInt(HELLO_MAGIC).putInt(rank)
                .put(rendezvous, 4, SECRET_BYTES).flip();
        return new Joining(new InetSocketAddress(senderAddress, port), hello, rank, worldSize);
    }

    static TransportException failure(IOException e, int peer, String what) {
        Kind kind = e instanceof SocketTimeoutException ? Kind.DEADLINE : Kind.PEER_FAILED;
        return new TransportException(kind, peer, what + " failed: " + e.getMessage(), e);
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

    /** A receiver's data connection until it has presented the secret; {@link #abort()} closes it. */
    private static final class Joining implements PendingGroup {
        private final InetSocketAddress root;
        private final ByteBuffer hello;
        private final int rank;
        private final int worldSize;
        private volatile boolean aborted;
        /** Between connecting and hand-over to the group; what {@link #abort()} closes. */
        private volatile DeadlineChannel connecting;

        Joining(InetSocketAddress root, ByteBuffer hello, int rank, int worldSize) {
            this.root = root;
            this.hello = hello;
            this.rank = rank;
            this.worldSize = worldSize;
        }

        @Override
        public Group awaitGroup(long deadlineNanos) {
            checkNotAborted(null);
            DeadlineChannel channel = null;
            try {
                channel = DeadlineChannel.connect(root, deadlineNanos);
                connecting = channel;
                checkNotAborted(null); // abort() may have come before the channel was published
                channel.writeFully(new ByteBuffer[] {hello.duplicate()}, deadlineNanos);
                checkNotAborted(null);
                Group group = new Member(channel, rank, worldSize);
                channel = null; // handed over
                return group;
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
    private static final class Root implements Rendezvous {
        private final ServerSocketChannel server;
        private final byte[] secret;
        private final int worldSize;
        private final byte[] bytes;
        private volatile boolean aborted;
        /** While awaitGroup waits for connections; {@link #abort()} wakes it. */
        private volatile Selector selector;

        Root(ServerSocketChannel server, byte[] secret, int worldSize) throws IOException {
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
         * nothing (or too little) delays nobody: it is closed once {@link #HELLO_TIMEOUT_NANOS} passes, and every
         * connection that has not become a member is closed when the wait ends, whatever the outcome.
         */
        @Override
        public Group awaitGroup(long deadlineNanos) {
            DeadlineChannel[] peers = new DeadlineChannel[worldSize];
            List<Hello> hellos = new ArrayList<>();
            int joined = 0;
            try (Selector waiting = Selector.open()) {
                selector = waiting;
                server.register(waiting, SelectionKey.OP_ACCEPT);
                while (joined < worldSize - 1) {
                    if (aborted) {
                        throw TransportException.aborted("host-tcp group formation (" + joined + " of "
                                + (worldSize - 1) + " receivers joined)", null);
                    }
                    acceptAll(waiting, hellos);
                    for (int i = hellos.size() - 1; i >= 0; i--) {
                        Hello hello = hellos.get(i);
                        int rank = hello.read(secret);
                        if (rank == Hello.INCOMPLETE) {
                            continue;
                        }
                        hellos.remove(i);
                        if (rank < 1 || rank >= worldSize || peers[rank] != null) {
                            hello.close(); // a stray, forged, silent or duplicate connection does not break the group
                            continue;
                        }
                        peers[rank] = hello.toChannel();
                        joined++;
                    }
                    if (joined < worldSize - 1) {
                        waiting.select(Math.min(nextHelloExpiryMillis(hellos), DeadlineChannel.remainingMillis(
                                deadlineNanos, "host-tcp group formation (" + joined + " of " + (worldSize - 1)
                                        + " receivers)")));
                        waiting.selectedKeys().clear();
                    }
                }
                return new RootGroup(peers);
            } catch (IOException e) {
                closeAll(peers);
                throw failure(e, UpdateFailedException.UNKNOWN_RANK, "host-tcp group formation");
            } catch (RuntimeException e) {
                closeAll(peers);
                throw e;
            } finally {
                selector = null;
                hellos.forEach(Hello::close);
                close();
            }
        }

        /** Takes every pending connection off the listening socket; beyond {@link #MAX_PENDING_HELLOS}, closes it. */
        private void acceptAll(Selector waiting, List<Hello> hellos) throws IOException {
            SocketChannel accepted;
            while ((accepted = server.accept()) != null) {
                if (hellos.size() >= MAX_PENDING_HELLOS) {
                    accepted.close();
                    continue;
                }
                try {
                    accepted.configureBlocking(false);
                    hellos.add(new Hello(accepted, accepted.register(waiting, SelectionKey.OP_READ)));
                } catch (IOException | RuntimeException e) {
                    accepted.close();
                }
            }
        }

        private static long nextHelloExpiryMillis(List<Hello> hellos) {
            long next = Long.MAX_VALUE;
            for (Hello hello : hellos) {
                next = Math.min(next, Math.max(1, TimeUnit.NANOSECONDS.toMillis(hello.expiresNanos - System.nanoTime())));
            }
            return next;
        }

        /**
         * Wakes a waiting {@link #awaitGroup}, which then fails.
         */
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
            try {
                server.close();
            } catch (IOException ignored) {
                // nothing was transferred over the listening socket
            }
        }
    }

    /** An accepted data connection whose hello is being read, without blocking, until it expires. */
    private static final class Hello {
        static final int INCOMPLETE = Integer.MIN_VALUE;
        static final int REFUSED = -1;
        final SocketChannel channel;
        final SelectionKey key;
        final ByteBuffer bytes = ByteBuffer.allocate(8 + SECRET_BYTES);
        final long expiresNanos = System.nanoTime() + HELLO_TIMEOUT_NANOS;

        Hello(SocketChannel channel, SelectionKey key) {
            this.channel = channel;
            this.key = key;
        }

        /**
         * Reads what has arrived; the rank claimed once the hello is complete, {@link #REFUSED} when it is wrong,
         * the connection failed or its time is up, {@link #INCOMPLETE} otherwise.
         */
        int read(byte[] secret) {
            try {
                if (channel.read(bytes) < 0) {
                    return REFUSED;
                }
            } catch (IOException e) {
                return REFUSED;
            }
            if (bytes.hasRemaining()) {
                return System.nanoTime() - expiresNanos >= 0 ? REFUSED : INCOMPLETE;
            }
            bytes.flip();
            int magic = bytes.getInt();
            int rank = bytes.getInt();
            byte[] presented = new byte[SECRET_BYTES];
            bytes.get(presented);
            return magic == HELLO_MAGIC && MessageDigest.isEqual(presented, secret) && rank >= 0 ? rank : REFUSED;
        }

        /** Hands the authenticated connection over: off the formation's selector, into a channel of its own. */
        DeadlineChannel toChannel() throws IOException {
            key.cancel();
            return DeadlineChannel.wrap(channel);
        }

        void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // nothing was accepted from it
            }
        }
    }

    private static void closeAll(DeadlineChannel[] channels) {
        for (DeadlineChannel c : channels) {
            if (c != null) {
                c.close();
            }
        }
    }

    /** A rank of a host-tcp group: broadcasts move bytes through {@link #transfer}; abort closes the channels. */
    private abstract static class TcpGroup extends GroupBase implements HostGroup {
        TcpGroup(int rank, int worldSize) {
            super(NAME, rank, worldSize);
        }

        @Override
        public void broadcast(MemorySegment bucket, BucketTag tag, long deadlineNanos) {
            checkNotAborted();
            countCall();
            try {
                transfer(bucket, tag, deadlineNanos);
            } catch (IOException e) {
                checkNotAborted();
                throw failure(e, peerOf(e), "broadcast of bucket " + tag.bucket() + " of version " + tag.version());
            } catch (RuntimeException e) {
                checkNotAborted(); // a selector or key closed by abort() surfaces as an unchecked exception
                throw e;
            }
            checkNotAborted();
        }

        abstract void transfer(MemorySegment bucket, BucketTag tag, long deadlineNanos) throws IOException;

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

    /** Rank 0: writes each bucket to every receiver, interleaved so one slow receiver does not serialise the rest. */
    private static final class RootGroup extends TcpGroup {
        private final DeadlineChannel[] peers; // index = rank, [0] unused
        private final Selector selector;
        private final SelectionKey[] keys;
        private int failedPeer = UpdateFailedException.UNKNOWN_RANK;

        RootGroup(DeadlineChannel[] peers) throws IOException {
            super(0, peers.length);
            this.peers = peers;
            this.selector = Selector.open();
            this.keys = new SelectionKey[peers.length];
            for (int r = 1; r < peers.length; r++) {
                keys[r] = peers[r].channel().register(selector, 0);
            }
        }

        @Override
        void transfer(MemorySegment bucket, BucketTag tag, long deadlineNanos) throws IOException {
            ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).putInt(BUCKET_MAGIC).putLong(tag.version())
                    .putInt(tag.bucket()).putInt(tag.bucketCount()).putLong(bucket.byteSize())
                    .putInt(crc32c(bucket)).flip();
            List<ByteBuffer[]> pending = new ArrayList<>(peers.length);
            List<Integer> pendingRanks = new ArrayList<>(peers.length);
            for (int r = 1; r < peers.length; r++) {
                ByteBuffer[] chunks = chunks(bucket);
                ByteBuffer[] buffers = new ByteBuffer[chunks.length + 1];
                buffers[0] = header.duplicate();
                System.arraycopy(chunks, 0, buffers, 1, chunks.length);
                pending.add(buffers);
                pendingRanks.add(r);
            }
            while (!pending.isEmpty()) {
                for (int i = pending.size() - 1; i >= 0; i--) {
                    int r = pendingRanks.get(i);
                    failedPeer = r;
                    peers[r].writeSome(pending.get(i));
                    if (DeadlineChannel.hasRemaining(pending.get(i))) {
                        keys[r].interestOps(SelectionKey.OP_WRITE);
                    } else {
                        keys[r].interestOps(0);
                        pending.remove(i);
                        pendingRanks.remove(i);
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
            try {
                selector.close(); // wakes a select in progress
            } catch (IOException ignored) {
                // only the abort matters
            }
        }
    }

    /** A receiver: reads each bucket from the root and checks its header and checksum. */
    private static final class Member extends TcpGroup {
        private final DeadlineChannel channel;
        private final ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);

        Member(DeadlineChannel channel, int rank, int worldSize) {
            super(rank, worldSize);
            this.channel = channel;
        }

        @Override
        void transfer(MemorySegment bucket, BucketTag tag, long deadlineNanos) throws IOException {
            header.clear();
            channel.readFully(header, deadlineNanos);
            header.flip();
            expect("magic", header.getInt(), BUCKET_MAGIC, tag);
            expect("version", header.getLong(), tag.version(), tag);
            expect("bucket index", header.getInt(), tag.bucket(), tag);
            expect("bucket count", header.getInt(), tag.bucketCount(), tag);
            expect("length", header.getLong(), bucket.byteSize(), tag);
            int expectedCrc = header.getInt();
            for (ByteBuffer chunk : chunks(bucket)) {
                channel.readFully(chunk, deadlineNanos);
            }
            int actualCrc = crc32c(bucket);
            if (actualCrc != expectedCrc) {
                throw corrupt(tag, "CRC32C is 0x" + Integer.toHexString(actualCrc) + ", header says 0x"
                        + Integer.toHexString(expectedCrc));
            }
        }

        private static void expect(String field, long actual, long expected, BucketTag tag) {
            if (actual != expected) {
                throw corrupt(tag, "header " + field + " is " + actual + ", expected " + expected);
            }
        }

        private static TransportException corrupt(BucketTag tag, String what) {
            return new TransportException(Kind.CORRUPT, 0, "bucket " + tag.bucket() + " of version " + tag.version()
                    + " is corrupt: " + what, null);
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
}
