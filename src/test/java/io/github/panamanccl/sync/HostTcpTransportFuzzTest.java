package io.github.panamanccl.sync;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.testing.FuzzContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of what the host transport reads from the network. {@link #bucketHeader}: the 32 bytes a
 * receiver decodes in front of a bucket ({@link BucketHeader#decode}, then checked against the bucket it expects)
 * are that bucket's header, re-encoding to the same bytes, or a {@link TransportException} CORRUPT_BUCKET, within
 * {@link FuzzContract}'s budgets. {@link #bucketStream}, over real sockets: the bytes a receiver reads for one bucket
 * (header, then the bucket) end in the bucket, byte-exact, or in a {@link TransportException} CORRUPT_BUCKET (wrong
 * header or checksum) or PEER_LOST (cut short), before the deadline. {@link #dataHello}: whatever an unauthenticated
 * connection to the root's data port sends, the root closes it promptly without a byte in reply (in particular
 * without the acknowledgement a real receiver gets), and a real receiver still joins. Seeds: the methods of the same
 * names, plus the corpora in src/test/resources/io/github/panamanccl/sync/HostTcpTransportFuzzTestInputs (see
 * src/test/FUZZING.md).
 */
class HostTcpTransportFuzzTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final Duration PROMPTLY = Duration.ofSeconds(5);
    private static final int BUCKET_BYTES = 64;
    private static final Transport.BucketTag TAG = new Transport.BucketTag(7, 1, 3);
    private static final Set<FailureReason> BAD_STREAM = Set.of(FailureReason.CORRUPT_BUCKET, FailureReason.PEER_LOST);
    private static final int HELLO_BYTES = 40;
    private static final int ACK_MAGIC = 0x504E414B; // "PNAK"

    private static Arena arena;
    private static MemorySegment bucket;
    private static ServerSocket posingAsRoot;
    private static ExecutorService roots;

    @BeforeAll
    static void start() throws IOException {
        arena = Arena.ofShared();
        bucket = arena.allocate(BUCKET_BYTES);
        posingAsRoot = new ServerSocket(0, 1, LOOPBACK);
        roots = Executors.newCachedThreadPool(task -> Thread.ofPlatform().daemon().name("fuzz-root").unstarted(task));
    }

    @AfterAll
    static void stop() throws IOException {
        roots.shutdownNow();
        posingAsRoot.close();
        arena.close();
    }

    static Stream<Arguments> bucketHeader() {
        byte[] valid = new BucketHeader(TAG.version(), TAG.bucket(), TAG.bucketCount(), BUCKET_BYTES, 0x1234abcd)
                .encode().array();
        byte[] badMagic = valid.clone();
        badMagic[0] ^= 1;
        return Stream.of(
                seed("the expected header", valid),
                seed("a wrong magic", badMagic),
                seed("a stale version", new BucketHeader(6, 1, 3, BUCKET_BYTES, 0).encode().array()),
                seed("another bucket", new BucketHeader(7, 2, 3, BUCKET_BYTES, 0).encode().array()),
                seed("another length", new BucketHeader(7, 1, 3, BUCKET_BYTES + 1, 0).encode().array()),
                seed("half a header", Arrays.copyOf(valid, BucketHeader.BYTES / 2)));
    }

    @MethodSource
    @FuzzTest
    void bucketHeader(byte[] input) {
        FuzzContract.decode(input, TransportException.class, () -> {
            BucketHeader header = BucketHeader.decode(ByteBuffer.wrap(input));
            header.expect(TAG, BUCKET_BYTES);
            return header;
        }).ifPresentOrElse(header -> assertArrayEquals(Arrays.copyOf(input, BucketHeader.BYTES),
                header.encode().array(), () -> header + " re-encodes differently"), () -> { });
    }

    static Stream<Arguments> bucketStream() {
        byte[] payload = new byte[BUCKET_BYTES];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7);
        }
        byte[] valid = streamOf(TAG, payload);
        byte[] wrongCrc = valid.clone();
        wrongCrc[BucketHeader.BYTES - 1] ^= 1;
        return Stream.of(
                seed("the expected bucket", valid),
                seed("a wrong checksum", wrongCrc),
                seed("a stale version", streamOf(new Transport.BucketTag(6, 1, 3), payload)),
                seed("the header only", Arrays.copyOf(valid, BucketHeader.BYTES)),
                seed("half a header", Arrays.copyOf(valid, BucketHeader.BYTES / 2)));
    }

    @MethodSource
    @FuzzTest
    void bucketStream(byte[] input) throws Exception {
        FuzzContract.allowLoopbackConnections();
        bucket.fill((byte) 0);
        byte[] rendezvous = ByteBuffer.allocate(36).putInt(posingAsRoot.getLocalPort()).array();
        long deadline = System.nanoTime() + PROMPTLY.toNanos();
        Future<?> root = roots.submit(() -> sendAsRoot(input));
        try (Transport.PendingGroup joining = Transport.hostTcp().join(rendezvous, LOOPBACK, 1, 2);
             Transport.Group member = joining.awaitGroup(deadline)) {
            try {
                ((Transport.HostGroup) member).broadcast(bucket, TAG, deadline);
            } catch (TransportException e) {
                assertTrue(BAD_STREAM.contains(e.reason()), () -> "a bad stream failed as " + e.reason() + ": " + e);
                return;
            }
        } finally {
            root.get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS);
        }
        assertTrue(input.length >= BucketHeader.BYTES + BUCKET_BYTES, "a bucket was accepted from " + input.length
                + " bytes");
        assertEquals(-1, MemorySegment.mismatch(bucket, 0, BUCKET_BYTES, MemorySegment.ofArray(input),
                BucketHeader.BYTES, BucketHeader.BYTES + BUCKET_BYTES), "the bucket holds other bytes than were sent");
    }

    /** Accepts the member's data connection, acknowledges its hello, sends {@code input} and waits for its close. */
    private static Void sendAsRoot(byte[] input) throws IOException {
        try (Socket member = posingAsRoot.accept()) {
            member.setSoLinger(true, 0); // reset on close: no TIME_WAIT per input
            member.setSoTimeout((int) PROMPTLY.toMillis());
            ByteBuffer hello = ByteBuffer.wrap(member.getInputStream().readNBytes(HELLO_BYTES));
            member.getOutputStream().write(ByteBuffer.allocate(8).putInt(ACK_MAGIC).putInt(hello.getInt(4)).array());
            try {
                member.getOutputStream().write(input);
                member.shutdownOutput();
            } catch (SocketException closedEarly) {
                // the member may reject the header and close before it has read everything
            }
            readOrReset(member); // until the member closes
        }
        return null;
    }

    static Stream<Arguments> dataHello() {
        byte[] hello = ByteBuffer.allocate(HELLO_BYTES).putInt(0x504E4454).putInt(1).array();
        return Stream.of(
                seed("rank 1 with a wrong secret", hello),
                seed("rank 0", ByteBuffer.allocate(HELLO_BYTES).putInt(0x504E4454).array()),
                seed("a negative rank", ByteBuffer.allocate(HELLO_BYTES).putInt(0x504E4454).putInt(-1).array()),
                seed("a short hello", Arrays.copyOf(hello, 12)),
                seed("a hello and more", Arrays.copyOf(hello, 100)));
    }

    @MethodSource
    @FuzzTest
    void dataHello(byte[] input) throws Exception {
        FuzzContract.allowLoopbackConnections();
        long deadline = System.nanoTime() + PROMPTLY.toNanos();
        try (Transport.Rendezvous rendezvous = Transport.hostTcp().openRendezvous(LOOPBACK, 2)) {
            Future<Transport.Group> formed = roots.submit(() -> rendezvous.awaitGroup(deadline));
            byte[] bytes = rendezvous.bytes();
            try (Socket stray = new Socket(LOOPBACK, ByteBuffer.wrap(bytes).getInt())) {
                stray.setSoLinger(true, 0);
                stray.setSoTimeout((int) PROMPTLY.toMillis());
                try {
                    stray.getOutputStream().write(input);
                    stray.shutdownOutput();
                } catch (SocketException closedEarly) {
                    // the root may refuse and close before it has read everything
                }
                assertEquals(-1, readOrReset(stray), "the root answered an unauthenticated connection");
            }
            try (Transport.PendingGroup joining = Transport.hostTcp().join(bytes, LOOPBACK, 1, 2);
                 Transport.Group member = joining.awaitGroup(deadline);
                 Transport.Group root = formed.get(PROMPTLY.toMillis(), TimeUnit.MILLISECONDS)) {
                assertEquals(1, member.rank());
                assertEquals(2, root.worldSize());
            }
        }
    }

    /** The next byte, or -1 at the end of the stream or on a reset (closed with our bytes unread). */
    private static int readOrReset(Socket socket) throws IOException {
        try {
            return socket.getInputStream().read();
        } catch (SocketException reset) {
            return -1;
        }
    }

    /** A bucket as the root sends it: its header, then the bytes. */
    private static byte[] streamOf(Transport.BucketTag tag, byte[] payload) {
        CRC32C crc = new CRC32C();
        crc.update(payload);
        return ByteBuffer.allocate(BucketHeader.BYTES + payload.length).put(new BucketHeader(tag.version(), tag.bucket(),
                tag.bucketCount(), payload.length, (int) crc.getValue()).encode()).put(payload).array();
    }

    private static Arguments seed(String name, byte[] bytes) {
        return Arguments.of(Named.of(name, bytes));
    }
}
