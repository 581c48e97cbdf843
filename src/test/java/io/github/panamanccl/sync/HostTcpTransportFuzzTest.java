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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Coverage-guided fuzzing of what the host transport reads from the network, over real sockets.
 * {@link #bucketHeader}: the bytes a receiver reads for one bucket (32-byte header, then the bucket) end in the
 * bucket, byte-exact, or in a {@link TransportException} of kind CORRUPT (wrong header or checksum) or
 * PEER_FAILED (cut short), before the deadline. {@link #dataHello}: whatever an unauthenticated connection to the
 * root's data port sends, the root closes it promptly without a byte in reply, and a real receiver still joins.
 * Seeds: the methods of the same names, plus the corpora in
 * src/test/resources/io/github/panamanccl/sync/HostTcpTransportFuzzTestInputs (see src/test/FUZZING.md).
 */
class HostTcpTransportFuzzTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    private static final Duration PROMPTLY = Duration.ofSeconds(5);
    private static final int HEADER_BYTES = 32;
    private static final int BUCKET_BYTES = 64;
    private static final Transport.BucketTag TAG = new Transport.BucketTag(7, 1, 3);
    private static final Set<TransportException.Kind> BAD_STREAM = Set.of(TransportException.Kind.CORRUPT,
            TransportException.Kind.PEER_FAILED);

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
        byte[] payload = new byte[BUCKET_BYTES];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) (i * 7);
        }
        byte[] valid = bucketStream(TAG, payload);
        byte[] wrongCrc = valid.clone();
        wrongCrc[HEADER_BYTES - 1] ^= 1;
        return Stream.of(
                seed("the expected bucket", valid),
                seed("a wrong checksum", wrongCrc),
                seed("a stale version", bucketStream(new Transport.BucketTag(6, 1, 3), payload)),
                seed("the header only", Arrays.copyOf(valid, HEADER_BYTES)),
                seed("half a header", Arrays.copyOf(valid, HEADER_BYTES / 2)));
    }

    @MethodSource
    @FuzzTest
    void bucketHeader(byte[] input) throws IOException {
        FuzzContract.allowLoopbackConnections();
        bucket.fill((byte) 0);
        byte[] rendezvous = ByteBuffer.allocate(36).putInt(posingAsRoot.getLocalPort()).array();
        long deadline = System.nanoTime() + PROMPTLY.toNanos();
        try (Transport.PendingGroup joining = Transport.hostTcp().join(rendezvous, LOOPBACK, 1, 2);
             Transport.Group member = joining.awaitGroup(deadline);
             Socket root = posingAsRoot.accept()) {
            root.setSoLinger(true, 0); // reset on close: no TIME_WAIT per input
            root.getInputStream().readNBytes(rendezvous.length + 4); // the member's data hello
            root.getOutputStream().write(input);
            root.shutdownOutput();
            try {
                ((Transport.HostGroup) member).broadcast(bucket, TAG, deadline);
            } catch (TransportException e) {
                assertTrue(BAD_STREAM.contains(e.kind()), () -> "a bad stream failed as " + e.kind() + ": " + e);
                return;
            }
        }
        assertTrue(input.length >= HEADER_BYTES + BUCKET_BYTES, "a bucket was accepted from " + input.length + " bytes");
        assertEquals(-1, MemorySegment.mismatch(bucket, 0, BUCKET_BYTES, MemorySegment.ofArray(input), HEADER_BYTES,
                HEADER_BYTES + BUCKET_BYTES), "the bucket holds other bytes than were sent");
    }

    static Stream<Arguments> dataHello() {
        byte[] hello = ByteBuffer.allocate(40).putInt(0x504E4454).putInt(1).array();
        return Stream.of(
                seed("rank 1 with a wrong secret", hello),
                seed("rank 0", ByteBuffer.allocate(40).putInt(0x504E4454).array()),
                seed("a negative rank", ByteBuffer.allocate(40).putInt(0x504E4454).putInt(-1).array()),
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

    /** A bucket as the root sends it: magic, version, index, count, length, CRC32C, then the bytes. */
    private static byte[] bucketStream(Transport.BucketTag tag, byte[] payload) {
        CRC32C crc = new CRC32C();
        crc.update(payload);
        return ByteBuffer.allocate(HEADER_BYTES + payload.length).putInt(0x504E424B).putLong(tag.version())
                .putInt(tag.bucket()).putInt(tag.bucketCount()).putLong(payload.length).putInt((int) crc.getValue())
                .put(payload).array();
    }

    private static Arguments seed(String name, byte[] bytes) {
        return Arguments.of(Named.of(name, bytes));
    }
}
