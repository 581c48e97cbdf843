package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The NCCL side on a real GPU with the real libnccl.so.2: a single-rank communicator created non-blocking,
 * broadcast verified byte for byte, groups, error paths, the deadline of a formation and abort. Tag {@code gpu}:
 * runs only on the GPU machine, with {@code panamanccl.nccl.path} (or PANAMANCCL_NCCL_PATH, or a pip wheel) naming
 * the real NCCL.
 */
@Tag("gpu")
class RealNcclGpuTest {
    private static final Duration DEADLINE = Duration.ofSeconds(60);
    private static final int MIB = 1 << 20;

    @BeforeAll
    static void realNcclAndGpu() {
        LibraryStatus nccl = NativeLibraries.status(NativeLibrary.NCCL);
        assertTrue(nccl.available(), nccl.cause());
        assertFalse(FakeNative.ncclIsFake(), "needs the real NCCL, not the fake: " + nccl.path());
        assertFalse(FakeNative.cudartIsFake(), "needs the real CUDA runtime");
        assertTrue(Cuda.deviceCount() >= 1, "needs a GPU");
        Cuda.setDevice(0);
    }

    private static byte[] randomBytes(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    @Test
    void versionIsAtLeastTheOneThatIntroducedTheConfig() {
        NcclVersion version = Nccl.version();
        assertTrue(version.isAtLeast(2, 14, 0), version.toString());
        assertEquals(NcclVersion.fromCode(version.code()), version);
    }

    @Test
    void uniqueIdsAreFreshAndSurviveBase64() {
        NcclUniqueId first = NcclUniqueId.generate();
        NcclUniqueId second = NcclUniqueId.generate();
        assertFalse(first.equals(second));
        assertEquals(first, NcclUniqueId.fromBase64(first.toBase64()));
    }

    @Test
    void aSingleRankCommunicatorIsCreatedNonBlockingWithinTheDeadline() {
        try (NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE)) {
            assertEquals(1, communicator.count());
            assertEquals(0, communicator.rank());
            assertEquals(0, communicator.device());
        }
    }

    @Test
    void broadcastDeliversEveryByte() {
        byte[] data = randomBytes(16 * MIB, 7);
        try (NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
             CudaStream stream = CudaStream.create();
             DeviceBuffer send = DeviceBuffer.allocate(16 * MIB);
             DeviceBuffer recv = DeviceBuffer.allocate(16 * MIB)) {
            send.copyFromHost(MemorySegment.ofArray(data), 0);
            recv.memset(0);

            communicator.broadcast(send, recv, 8 * MIB, NcclDataType.BFLOAT16, 0, stream);
            communicator.await(stream, DEADLINE);

            byte[] back = new byte[16 * MIB];
            recv.copyToHost(0, MemorySegment.ofArray(back));
            assertArrayEquals(data, back);

            // in place: send == recv
            communicator.broadcast(recv, recv, 4 * MIB, NcclDataType.FLOAT32, 0, stream);
            communicator.await(stream, DEADLINE);
            recv.copyToHost(0, MemorySegment.ofArray(back));
            assertArrayEquals(data, back);
        }
    }

    @Test
    void broadcastsInAGroupLandInTheirSlices() {
        byte[] data = randomBytes(2 * MIB, 8);
        try (NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
             CudaStream stream = CudaStream.create();
             DeviceBuffer send = DeviceBuffer.allocate(2 * MIB);
             DeviceBuffer recv = DeviceBuffer.allocate(2 * MIB)) {
            send.copyFromHost(MemorySegment.ofArray(data), 0);
            recv.memset(0);

            Nccl.group(() -> {
                communicator.broadcast(send.slice(0, MIB), recv.slice(MIB, MIB), MIB, NcclDataType.UINT8, 0, stream);
                communicator.broadcast(send.slice(MIB, MIB), recv.slice(0, MIB), MIB / 8, NcclDataType.FLOAT64, 0,
                        stream);
            });
            communicator.await(stream, DEADLINE);

            byte[] back = new byte[2 * MIB];
            recv.copyToHost(0, MemorySegment.ofArray(back));
            byte[] expected = new byte[2 * MIB];
            System.arraycopy(data, MIB, expected, 0, MIB);
            System.arraycopy(data, 0, expected, MIB, MIB);
            assertArrayEquals(expected, back);
        }
    }

    @Test
    void aBadRootIsNcclsInvalidArgument() {
        try (NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
             CudaStream stream = CudaStream.create();
             DeviceBuffer buffer = DeviceBuffer.allocate(1024)) {
            NcclException failure = assertThrows(NcclException.class,
                    () -> communicator.broadcast(buffer, buffer, 256, NcclDataType.FLOAT32, 1, stream));

            assertEquals("ncclBroadcast", failure.call());
            assertEquals(4, failure.code());
            assertEquals("ncclInvalidArgument", failure.errorName());
            assertFalse(failure.errorString().isBlank());
        }
    }

    @Test
    void anAbortedCommunicatorIsNotClosedAgain() {
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
        communicator.abort();
        communicator.close();
        assertThrows(IllegalStateException.class, communicator::count);
    }

    /**
     * The non-blocking deadline path: rank 0 of two, the other rank never comes; when the deadline passes the
     * formation is aborted (ncclCommAbort) and NcclTimeoutException names the deadline, instead of a hang.
     */
    @Test
    void aFormationThatCannotCompleteFailsAtItsDeadlineAndIsAborted() {
        Duration deadline = Duration.ofSeconds(2);
        int liveBefore = NcclCommunicator.live();
        long abortsBefore = NcclCommunicator.aborted();
        long start = System.nanoTime();

        NcclTimeoutException failure = assertThrows(NcclTimeoutException.class,
                () -> NcclCommunicator.create(NcclUniqueId.generate(), 2, 0, deadline));

        Duration waited = Duration.ofNanos(System.nanoTime() - start);
        assertEquals(deadline, failure.deadline());
        assertTrue(waited.compareTo(deadline) >= 0, "gave up before the deadline: " + waited);
        assertTrue(waited.compareTo(deadline.plusSeconds(10)) < 0, "the abort took long: " + waited);
        assertEquals(liveBefore, NcclCommunicator.live(), "the formation left no communicator behind");
        assertEquals(abortsBefore + 1, NcclCommunicator.aborted(), "it was aborted");
    }

    /**
     * Rank 0 of two, the other rank never comes: NCCL's bootstrap waits for it, and an abort from another thread
     * must end that wait at once (ncclCommAbort of a communicator whose non-blocking init is in progress).
     */
    @Test
    void anAbortFromAnotherThreadEndsAFormationThatCannotComplete() throws InterruptedException {
        NcclCommunicator communicator = NcclCommunicator.begin(NcclUniqueId.generate(), 2, 0);
        Thread controlPlane = Thread.ofPlatform().start(() -> {
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            communicator.abort();
        });
        long start = System.nanoTime();

        assertThrows(NcclAbortedException.class, () -> communicator.awaitReady(DEADLINE));

        Duration waited = Duration.ofNanos(System.nanoTime() - start);
        controlPlane.join();
        assertTrue(waited.compareTo(DEADLINE.dividedBy(4)) < 0, "ended long before the deadline: " + waited);
        communicator.close();
        assertThrows(IllegalStateException.class, communicator::count);
    }
}
