package io.github.panamanccl;

import io.github.panamanccl.internal.nccl.NcclApi;
import io.github.panamanccl.internal.nccl.ncclUniqueId;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fake NCCL with more than one rank, ranks on threads of this process (the sync tests run them in separate
 * JVMs): the bootstrap through the id's root, non-blocking formation, broadcasts that move bytes and stay pending on
 * their streams until then, groups, argument mismatches, faults, abort and the stall limit.
 */
@Tag("fake-cuda")
@Timeout(60)
class FakeNcclMultiRankTest {
    private static final int SUCCESS = 0;
    private static final int SYSTEM_ERROR = 2;
    private static final int INVALID_ARGUMENT = 4;
    private static final int INVALID_USAGE = 5;
    private static final int REMOTE_ERROR = 6;
    private static final int IN_PROGRESS = 7;
    private static final int UINT8 = NcclDataType.UINT8.code();
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final Arena arena = Arena.ofShared();
    private final ExecutorService threads = Executors.newCachedThreadPool();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final List<MemorySegment> comms = new ArrayList<>();

    @BeforeEach
    void fakes() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        FakeNative.cudartSetDeviceCount(4);
    }

    @AfterEach
    void release() throws Exception {
        for (MemorySegment comm : comms) {
            NcclApi.ncclCommAbort(comm); // ncclInvalidArgument for those the test ended itself
        }
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        threads.shutdownNow();
        assertEquals(0, FakeNative.ncclLiveComms(), "every communicator was released");
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        arena.close();
    }

    @Test
    void theIdNamesARootListeningOnLoopbackAndEveryIdHasItsOwnNonce() throws Exception {
        MemorySegment first = newId();
        MemorySegment second = newId();
        assertArrayEquals(InetAddress.getLoopbackAddress().getAddress(), first.asSlice(16, 4).toArray(JAVA_BYTE));
        int port = Short.toUnsignedInt(ByteBuffer.wrap(first.asSlice(20, 2).toArray(JAVA_BYTE)).getShort());
        assertTrue(port > 0, "port " + port);
        try (Socket probe = new Socket()) {
            probe.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2000); // the root accepts
        }
        assertNotEquals(-1, first.asSlice(8, 8).mismatch(second.asSlice(8, 8)), "a fresh nonce per id");
    }

    @Test
    void nonBlockingRanksStayInProgressUntilTheLastArrivesThenAllAreReady() throws Exception {
        MemorySegment id = newId();
        MemorySegment rank0 = onDevice(0, () -> beginNonBlocking(id, 3, 0)).get();
        MemorySegment rank1 = onDevice(1, () -> beginNonBlocking(id, 3, 1)).get();
        long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(300);
        while (System.nanoTime() < until) {
            assertEquals(IN_PROGRESS, asyncState(rank0), "rank 2 has not arrived");
            assertEquals(IN_PROGRESS, asyncState(rank1), "rank 2 has not arrived");
            Thread.sleep(20);
        }
        assertEquals(INVALID_USAGE, NcclApi.ncclBroadcast(MemorySegment.NULL, arena.allocate(8), 8, UINT8, 0, rank1,
                MemorySegment.NULL), "no work before the communicator is ready");
        MemorySegment rank2 = onDevice(2, () -> beginNonBlocking(id, 3, 2)).get();
        for (MemorySegment comm : List.of(rank0, rank1, rank2)) {
            assertEquals(SUCCESS, awaitState(comm));
        }
        assertEquals(3, intQuery(rank2, "count"));
        assertEquals(2, intQuery(rank2, "rank"));
        assertEquals(1, intQuery(rank1, "device"), "the device current on the thread that created it");
    }

    @Test
    void aBroadcastMovesTheRootsBytesAndIsPendingOnItsStreamUntilEveryRankTookPart() throws Exception {
        int bytes = 3 << 20; // more than loopback socket buffers hold at once
        List<Rank> ranks = formRanks(3, bytes);
        byte[] sent = pattern(bytes, 11);
        ranks.getFirst().buffer.copyFromHost(MemorySegment.ofArray(sent), 0);

        broadcast(ranks.get(0), bytes);
        broadcast(ranks.get(1), bytes);
        Rank late = ranks.get(2);
        // Rank 1: an event after the broadcast, and a second stream that waits for it before copying the bucket out.
        CudaEvent arrived = track(CudaEvent.create(false));
        arrived.record(ranks.get(1).stream);
        CudaStream copies = track(CudaStream.create());
        copies.waitEvent(arrived);
        MemorySegment copiedOut = arena.allocate(bytes);
        Cuda.memcpyAsync(copiedOut.address(), ranks.get(1).buffer.address(), bytes, copies);

        Thread.sleep(200);
        for (Rank r : List.of(ranks.get(0), ranks.get(1))) {
            assertFalse(r.stream.isComplete(), "rank " + r.rank + " waits for rank 2");
            assertEquals(SUCCESS, asyncState(r.comm));
        }
        assertFalse(arrived.isComplete());
        assertFalse(copies.isComplete(), "the waiting stream holds its copy back");
        assertEquals(0, copiedOut.get(JAVA_BYTE, 0));

        broadcast(late, bytes);
        for (Rank r : ranks) {
            r.stream.synchronize();
            byte[] received = new byte[bytes];
            r.buffer.copyToHost(0, MemorySegment.ofArray(received));
            assertArrayEquals(sent, received, "rank " + r.rank);
        }
        copies.synchronize();
        assertTrue(arrived.isComplete());
        assertEquals(-1, MemorySegment.mismatch(copiedOut, 0, bytes, MemorySegment.ofArray(sent), 0, bytes),
                "the copy ordered after the broadcast saw its bytes");
        assertEquals(2L * bytes, FakeNative.ncclPayloadBytesSent(), "the root sent the bucket to two ranks");
        assertEquals(2L * bytes, FakeNative.ncclPayloadBytesReceived(), "and two ranks received it");
        assertEquals(3, FakeNative.ncclCallCount("ncclBroadcast"));
    }

    @Test
    void oneThreadDrivesEveryRankWithAGroupOfBroadcasts() {
        int ranks = 3;
        MemorySegment handles = arena.allocate(ADDRESS, ranks);
        assertEquals(SUCCESS, NcclApi.ncclCommInitAll(handles, ranks, arena.allocateFrom(JAVA_INT, 0, 1, 2)));
        List<MemorySegment> all = new ArrayList<>();
        List<CudaStream> streams = new ArrayList<>();
        List<DeviceBuffer> buffers = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            all.add(keep(handles.getAtIndex(ADDRESS, r)));
            streams.add(track(CudaStream.create()));
            buffers.add(track(DeviceBuffer.allocate(2 * 1000)));
        }
        byte[] first = pattern(1000, 3);
        byte[] second = pattern(1000, 5);
        buffers.get(1).copyFromHost(MemorySegment.ofArray(first), 0); // the root of the first broadcast
        buffers.get(2).copyFromHost(MemorySegment.ofArray(second), 1000); // of the second
        assertEquals(SUCCESS, NcclApi.ncclGroupStart());
        for (int r = 0; r < ranks; r++) {
            MemorySegment buffer = MemorySegment.ofAddress(buffers.get(r).address());
            assertEquals(SUCCESS, NcclApi.ncclBroadcast(buffer, buffer, 1000, UINT8, 1, all.get(r), streams.get(r).handle()));
            MemorySegment tail = MemorySegment.ofAddress(buffers.get(r).address() + 1000); // a pointer, not dereferenced
            assertEquals(SUCCESS, NcclApi.ncclBcast(tail, 1000, UINT8, 2, all.get(r), streams.get(r).handle()));
        }
        assertEquals(0, FakeNative.ncclPayloadBytesSent(), "nothing moves before the group ends");
        assertEquals(SUCCESS, NcclApi.ncclGroupEnd());
        for (int r = 0; r < ranks; r++) {
            streams.get(r).synchronize();
            byte[] received = new byte[2000];
            buffers.get(r).copyToHost(0, MemorySegment.ofArray(received));
            assertArrayEquals(first, Arrays.copyOfRange(received, 0, 1000), "rank " + r);
            assertArrayEquals(second, Arrays.copyOfRange(received, 1000, 2000), "rank " + r);
            assertEquals(SUCCESS, asyncState(all.get(r)));
        }
    }

    @Test
    void ranksThatDisagreeOnTheBroadcastFailEveryRankWithInvalidUsageInsteadOfHanging() throws Exception {
        List<Rank> ranks = formRanks(2, 100);
        MemorySegment buffer0 = MemorySegment.ofAddress(ranks.get(0).buffer.address());
        MemorySegment buffer1 = MemorySegment.ofAddress(ranks.get(1).buffer.address());
        assertEquals(SUCCESS, NcclApi.ncclBroadcast(buffer0, buffer0, 100, UINT8, 0, ranks.get(0).comm,
                ranks.get(0).stream.handle()));
        assertEquals(SUCCESS, NcclApi.ncclBroadcast(buffer1, buffer1, 50, UINT8, 0, ranks.get(1).comm,
                ranks.get(1).stream.handle()));
        for (Rank r : ranks) {
            assertEquals(INVALID_USAGE, awaitError(r.comm));
            assertFalse(r.stream.isComplete(), "a failed collective holds its stream until the abort");
        }
        String lastError = NativeResults.ncclLastError(MemorySegment.NULL);
        assertTrue(lastError.contains("Broadcast arguments differ between ranks") && lastError.contains("count 50"),
                lastError);
        assertEquals(INVALID_USAGE, NcclApi.ncclBroadcast(buffer0, buffer0, 100, UINT8, 0, ranks.get(0).comm,
                ranks.get(0).stream.handle()), "a failed communicator takes no more work");
        for (Rank r : ranks) {
            assertEquals(SUCCESS, NcclApi.ncclCommAbort(r.comm));
            r.stream.synchronize(); // the abort ended the collective: the stream completes
        }

        // Each rank believing itself the root would otherwise wait forever for the other's bytes.
        List<Rank> roots = formRanks(2, 100);
        for (Rank r : roots) {
            MemorySegment buffer = MemorySegment.ofAddress(r.buffer.address());
            assertEquals(SUCCESS, NcclApi.ncclBroadcast(buffer, buffer, 100, UINT8, r.rank, r.comm, r.stream.handle()));
        }
        for (Rank r : roots) {
            assertEquals(INVALID_USAGE, awaitError(r.comm));
        }
        assertTrue(NativeResults.ncclLastError(MemorySegment.NULL).contains("root 1"),
                NativeResults.ncclLastError(MemorySegment.NULL));
    }

    @Test
    void twoRanksOnOneGpuAreRefusedAsNcclDoes() {
        MemorySegment handles = arena.allocate(ADDRESS, 2);
        assertEquals(INVALID_USAGE, NcclApi.ncclCommInitAll(handles, 2, arena.allocateFrom(JAVA_INT, 1, 1)));
        String lastError = NativeResults.ncclLastError(MemorySegment.NULL);
        assertEquals("Duplicate GPU detected : rank 0 and rank 1 both on CUDA device 0000:fb:00.0", lastError);
    }

    @Test
    void ranksOfDifferentReleasesOrSizesAndStaleIdsAreRefusedAtTheRendezvous() throws Exception {
        MemorySegment id = newId();
        FakeNative.ncclSetVersion(23008);
        MemorySegment newer = onDevice(0, () -> beginNonBlocking(id, 2, 0)).get();
        FakeNative.ncclSetVersion(0);
        MemorySegment older = onDevice(1, () -> beginNonBlocking(id, 2, 1)).get();
        assertEquals(INVALID_USAGE, awaitState(newer));
        assertEquals(INVALID_USAGE, awaitState(older));
        assertTrue(NativeResults.ncclLastError(MemorySegment.NULL).startsWith("Mismatched NCCL version detected"),
                NativeResults.ncclLastError(MemorySegment.NULL));

        MemorySegment sized = newId();
        MemorySegment two = onDevice(0, () -> beginNonBlocking(sized, 2, 0)).get();
        MemorySegment three = onDevice(1, () -> beginNonBlocking(sized, 3, 1)).get();
        assertEquals(INVALID_USAGE, awaitState(two));
        assertEquals(INVALID_USAGE, awaitState(three));
        assertTrue(NativeResults.ncclLastError(MemorySegment.NULL).contains("passed nranks"),
                NativeResults.ncclLastError(MemorySegment.NULL));

        // An id whose address is another rendezvous's root: that root refuses the stranger's nonce.
        MemorySegment stale = newId();
        MemorySegment other = newId();
        stale.asSlice(16, 6).copyFrom(other.asSlice(16, 6));
        MemorySegment stranger = onDevice(0, () -> beginNonBlocking(stale, 2, 0)).get();
        assertEquals(INVALID_ARGUMENT, awaitState(stranger));
        assertTrue(NativeResults.ncclLastError(MemorySegment.NULL).contains("does not match"),
                NativeResults.ncclLastError(MemorySegment.NULL));
    }

    @Test
    void aRankThatAbortsFailsThePendingBroadcastOfEveryOtherRankWithRemoteError() throws Exception {
        List<Rank> ranks = formRanks(3, 4096);
        broadcast(ranks.get(0), 4096);
        broadcast(ranks.get(1), 4096);
        long abortedAt = System.nanoTime();
        assertEquals(SUCCESS, NcclApi.ncclCommAbort(ranks.get(2).comm)); // instead of taking part
        for (Rank r : List.of(ranks.get(0), ranks.get(1))) {
            assertEquals(REMOTE_ERROR, awaitError(r.comm));
            assertTrue(System.nanoTime() - abortedAt < TimeUnit.SECONDS.toNanos(2), "failed promptly");
            assertFalse(r.stream.isComplete(), "the stream does not complete");
        }
        String lastError = NativeResults.ncclLastError(MemorySegment.NULL);
        assertTrue(lastError.contains("lost its connection to rank"), lastError);
        for (Rank r : List.of(ranks.get(0), ranks.get(1))) {
            long start = System.nanoTime();
            assertEquals(SUCCESS, NcclApi.ncclCommAbort(r.comm));
            r.stream.synchronize();
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1), "abort and stream end promptly");
        }
        assertEquals(INVALID_ARGUMENT, asyncStateResult(ranks.get(0).comm), "an aborted communicator is gone");
    }

    /**
     * Rank 1 aborts after its part of the broadcast reached the root (rank 2 has not launched yet): the root's pending
     * broadcast fails all the same. Rank 2, idle meanwhile, may still complete that broadcast from the bytes already
     * sent to it, but fails the next one at once: the failing ranks shut their connections.
     */
    @Test
    void aPendingBroadcastFailsWhenAnyPeerGoesEvenOneWhosePartHadArrived() throws Exception {
        List<Rank> ranks = formRanks(3, 4096);
        broadcast(ranks.get(0), 4096);
        broadcast(ranks.get(1), 4096);
        Thread.sleep(200); // rank 1 has the bytes and acknowledged them; both wait for rank 2
        assertEquals(SUCCESS, NcclApi.ncclCommAbort(ranks.get(1).comm));
        assertEquals(REMOTE_ERROR, awaitError(ranks.get(0).comm));
        assertEquals(SUCCESS, asyncState(ranks.get(2).comm), "an idle rank learns of it when it next takes part");
        broadcast(ranks.get(2), 4096);
        broadcast(ranks.get(2), 4096);
        assertEquals(REMOTE_ERROR, awaitError(ranks.get(2).comm));
        assertFalse(ranks.get(2).stream.isComplete(), "its failed broadcast holds the stream");
        String lastError = NativeResults.ncclLastError(MemorySegment.NULL);
        assertTrue(lastError.contains("rank 2 lost its connection to rank"), lastError);
    }

    @Test
    void abortFromAnotherThreadEndsAWaitOnABroadcastThatCannotComplete() throws Exception {
        MemorySegment id = newId();
        Future<NcclCommunicator> first = onDevice(0, () -> NcclCommunicator.create(NcclUniqueId.fromBytes(
                id.toArray(JAVA_BYTE)), 2, 0, WAIT));
        Future<NcclCommunicator> second = onDevice(1, () -> NcclCommunicator.create(NcclUniqueId.fromBytes(
                id.toArray(JAVA_BYTE)), 2, 1, WAIT));
        NcclCommunicator root = first.get();
        NcclCommunicator other = second.get();
        toClose.add(other);
        CudaStream stream = track(CudaStream.create());
        DeviceBuffer bucket = track(DeviceBuffer.allocate(64));
        root.broadcast(bucket, bucket, 64, NcclDataType.UINT8, 0, stream); // rank 1 never takes part
        threads.submit(() -> {
            Thread.sleep(150);
            root.abort();
            return null;
        });
        long start = System.nanoTime();
        NcclAbortedException aborted = assertThrows(NcclAbortedException.class, () -> root.await(stream, WAIT));
        assertEquals("NcclCommunicator.await", aborted.call());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(3), "ended by the abort, not the deadline");
        stream.synchronize();
    }

    @Test
    void theStallLimitBoundsEveryWaitForAPeer() throws Exception {
        FakeNative.ncclSetStallLimit(Duration.ofMillis(300));
        MemorySegment lonely = onDevice(0, () -> beginNonBlocking(newId(), 2, 0)).get();
        long start = System.nanoTime();
        assertEquals(SYSTEM_ERROR, awaitState(lonely), "nobody else arrived");
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(250));
        assertTrue(NativeResults.ncclLastError(MemorySegment.NULL).contains("stall limit"),
                NativeResults.ncclLastError(MemorySegment.NULL));

        List<Rank> ranks = formRanks(2, 64);
        broadcast(ranks.getFirst(), 64); // rank 1 never takes part
        assertEquals(SYSTEM_ERROR, awaitError(ranks.getFirst().comm));
        assertTrue(NativeResults.ncclLastError(MemorySegment.NULL).contains("moved no byte for 300 ms"),
                NativeResults.ncclLastError(MemorySegment.NULL));
        ranks.getFirst().stream.synchronize(); // released by the limit even without an abort
    }

    // ---- helpers ----

    /** One rank of a formed communicator with its stream and a device buffer. */
    private record Rank(int rank, MemorySegment comm, CudaStream stream, DeviceBuffer buffer) {
    }

    /** nranks ranks formed on threads bound to devices 0..nranks-1, each with a stream and a buffer of bytes. */
    private List<Rank> formRanks(int nranks, int bytes) throws Exception {
        MemorySegment id = newId();
        List<Future<MemorySegment>> begun = new ArrayList<>();
        for (int r = 0; r < nranks; r++) {
            int rank = r;
            begun.add(onDevice(r, () -> beginNonBlocking(id, nranks, rank)));
        }
        List<Rank> ranks = new ArrayList<>();
        for (int r = 0; r < nranks; r++) {
            MemorySegment comm = begun.get(r).get();
            assertEquals(SUCCESS, awaitState(comm));
            ranks.add(new Rank(r, comm, track(CudaStream.create()), track(DeviceBuffer.allocate(bytes))));
        }
        return ranks;
    }

    private static void broadcast(Rank r, int bytes) {
        MemorySegment buffer = MemorySegment.ofAddress(r.buffer.address());
        assertEquals(SUCCESS, NcclApi.ncclBroadcast(buffer, buffer, bytes, UINT8, 0, r.comm, r.stream.handle()));
    }

    private MemorySegment newId() {
        MemorySegment id = ncclUniqueId.allocate(arena);
        assertEquals(SUCCESS, NcclApi.ncclGetUniqueId(id));
        return id;
    }

    /** ncclCommInitRankConfig with blocking = 0, on the calling thread's device. */
    private MemorySegment beginNonBlocking(MemorySegment id, int nranks, int rank) {
        MemorySegment out = arena.allocateFrom(ADDRESS, MemorySegment.NULL);
        MemorySegment config = NcclConfig.allocate(arena, Nccl.version().code(), false);
        assertEquals(IN_PROGRESS, NcclApi.ncclCommInitRankConfig(out, nranks, id, rank, config));
        return keep(out.get(ADDRESS, 0));
    }

    private MemorySegment keep(MemorySegment comm) {
        synchronized (comms) {
            comms.add(comm);
        }
        return comm;
    }

    private <T> Future<T> onDevice(int device, Callable<T> task) {
        return threads.submit(() -> {
            Cuda.setDevice(device);
            return task.call();
        });
    }

    private <T extends AutoCloseable> T track(T resource) {
        toClose.add(resource);
        return resource;
    }

    private int asyncState(MemorySegment comm) {
        MemorySegment state = arena.allocateFrom(JAVA_INT, -1);
        assertEquals(SUCCESS, NcclApi.ncclCommGetAsyncError(comm, state));
        return state.get(JAVA_INT, 0);
    }

    private int asyncStateResult(MemorySegment comm) {
        return NcclApi.ncclCommGetAsyncError(comm, arena.allocate(JAVA_INT));
    }

    /** Polls until the communicator leaves ncclInProgress; its state then. */
    private int awaitState(MemorySegment comm) throws InterruptedException {
        long giveUp = System.nanoTime() + WAIT.toNanos();
        while (true) {
            int state = asyncState(comm);
            if (state != IN_PROGRESS) {
                return state;
            }
            assertTrue(System.nanoTime() < giveUp, "still in progress after " + WAIT);
            Thread.sleep(2);
        }
    }

    /** Polls a ready communicator until its collectives fail (ncclSuccess while they are in flight); the error. */
    private int awaitError(MemorySegment comm) throws InterruptedException {
        long giveUp = System.nanoTime() + WAIT.toNanos();
        while (true) {
            int state = asyncState(comm);
            if (state != SUCCESS && state != IN_PROGRESS) {
                return state;
            }
            assertTrue(System.nanoTime() < giveUp, "no error after " + WAIT);
            Thread.sleep(2);
        }
    }

    private int intQuery(MemorySegment comm, String which) {
        MemorySegment value = arena.allocate(JAVA_INT);
        int result = switch (which) {
            case "count" -> NcclApi.ncclCommCount(comm, value);
            case "rank" -> NcclApi.ncclCommUserRank(comm, value);
            default -> NcclApi.ncclCommCuDevice(comm, value);
        };
        assertEquals(SUCCESS, result);
        return value.get(JAVA_INT, 0);
    }

    private static byte[] pattern(int length, int seed) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) (i * 31 + seed * 7 + (i >>> 11));
        }
        return bytes;
    }
}
