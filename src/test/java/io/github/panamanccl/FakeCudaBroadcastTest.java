package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** NcclCommunicator.broadcast and await over the fake NCCL and the fake CUDA runtime. */
@Tag("fake-cuda")
class FakeCudaBroadcastTest {
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    private NcclCommunicator communicator;
    private CudaStream stream;

    @BeforeEach
    void open() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
        stream = CudaStream.create();
    }

    @AfterEach
    void close() {
        FakeNative.cudartSetStreamBusy(false);
        communicator.close();
        stream.close();
    }

    private static float[] floats(int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = i * 0.5f - 3f;
        }
        return values;
    }

    @Test
    void broadcastCopiesTheRootsBufferIntoRecv() {
        float[] sent = floats(250);
        try (DeviceBuffer send = DeviceBuffer.allocate(1000); DeviceBuffer recv = DeviceBuffer.allocate(1000)) {
            send.copyFromHost(MemorySegment.ofArray(sent), 0);
            recv.memset(0);

            communicator.broadcast(send, recv, 250, NcclDataType.FLOAT32, 0, stream);
            communicator.await(stream, DEADLINE);

            float[] received = new float[250];
            recv.copyToHost(0, MemorySegment.ofArray(received));
            assertArrayEquals(sent, received);
            assertEquals(1, FakeNative.ncclCallCount("ncclBroadcast"));
        }
    }

    @Test
    void slicesBroadcastIntoTheRightPlace() {
        try (DeviceBuffer buffer = DeviceBuffer.allocate(64)) {
            buffer.memset(0);
            buffer.copyFromHost(MemorySegment.ofArray(new float[] {1f, 2f, 3f, 4f}), 0);

            communicator.broadcast(buffer.slice(0, 16), buffer.slice(32, 32), 4, NcclDataType.FLOAT32, 0, stream);
            communicator.await(stream, DEADLINE);

            MemorySegment back = MemorySegment.ofArray(new float[16]);
            buffer.copyToHost(0, back);
            assertArrayEquals(new float[] {1f, 2f, 3f, 4f, 0, 0, 0, 0, 1f, 2f, 3f, 4f, 0, 0, 0, 0},
                    back.toArray(JAVA_FLOAT));
        }
    }

    @Test
    void aRootOutOfRangeIsNcclsInvalidArgumentWithItsLastError() {
        try (DeviceBuffer buffer = DeviceBuffer.allocate(16)) {
            NcclException failure = assertThrows(NcclException.class,
                    () -> communicator.broadcast(buffer, buffer, 4, NcclDataType.FLOAT32, 1, stream));

            assertEquals("ncclBroadcast", failure.call());
            assertEquals(4, failure.code());
            assertEquals("ncclInvalidArgument", failure.errorName());
            assertEquals("Broadcast : invalid root 1 (root should be in the 0..0 range)", failure.lastError());
        }
    }

    @Test
    void sizesAreCheckedBeforeNcclIsCalled() {
        try (DeviceBuffer small = DeviceBuffer.allocate(16); DeviceBuffer large = DeviceBuffer.allocate(64)) {
            IndexOutOfBoundsException recvTooSmall = assertThrows(IndexOutOfBoundsException.class,
                    () -> communicator.broadcast(large, small, 8, NcclDataType.FLOAT32, 0, stream));
            assertTrue(recvTooSmall.getMessage().contains("recv holds 16 bytes"), recvTooSmall.getMessage());
            assertThrows(IndexOutOfBoundsException.class,
                    () -> communicator.broadcast(small, large, 8, NcclDataType.FLOAT64, 0, stream));
            assertThrows(NullPointerException.class,
                    () -> communicator.broadcast(null, large, 1, NcclDataType.INT8, 0, stream),
                    "the root must pass send");
            assertThrows(IllegalArgumentException.class,
                    () -> communicator.broadcast(large, large, Long.MAX_VALUE / 2, NcclDataType.INT64, 0, stream));
            assertEquals(0, FakeNative.ncclCallCount("ncclBroadcast"));
        }
    }

    @Test
    void awaitOnABusyStreamTimesOutAndAborts() {
        FakeNative.cudartSetStreamBusy(true);
        Duration deadline = Duration.ofMillis(150);
        long start = System.nanoTime();

        NcclTimeoutException timeout = assertThrows(NcclTimeoutException.class, () -> communicator.await(stream, deadline));

        Duration waited = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(waited.compareTo(deadline) >= 0, "waited " + waited);
        assertTrue(waited.compareTo(deadline.plusSeconds(10)) < 0, "waited " + waited);
        assertEquals("NcclCommunicator.await", timeout.call());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertTrue(FakeNative.cudartCallCount("cudaStreamQuery") >= 2, "polled the stream");
        assertThrows(IllegalStateException.class, communicator::count, "aborted");
    }

    @Test
    void anAbortFromAnotherThreadEndsAWaitingAwait() throws InterruptedException {
        FakeNative.cudartSetStreamBusy(true);
        Thread watchdog = Thread.ofPlatform().start(() -> {
            long giveUp = System.nanoTime() + Duration.ofSeconds(30).toNanos(); // never hang the build
            while (FakeNative.cudartCallCount("cudaStreamQuery") < 3 && System.nanoTime() < giveUp) {
                Thread.onSpinWait();
            }
            communicator.abort();
        });

        NcclAbortedException aborted = assertThrows(NcclAbortedException.class,
                () -> communicator.await(stream, Duration.ofMinutes(5)));
        watchdog.join();

        assertEquals("NcclCommunicator.await", aborted.call());
        assertEquals("ncclInProgress", aborted.errorName());
        assertTrue(aborted.getMessage().contains("aborted by NcclCommunicator.abort()"), aborted.getMessage());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertThrows(NcclAbortedException.class, () -> communicator.await(stream, DEADLINE), "the abort stays reported");
        assertThrows(IllegalStateException.class, communicator::count, "other use is refused");
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
    }

    @Test
    void anAbortBeforeAwaitIsReportedAtOnceAsAnAbort() {
        communicator.abort(); // e.g. a watchdog, just before the owner began to wait
        long pollsBefore = FakeNative.ncclCallCount("ncclCommGetAsyncError");

        NcclAbortedException aborted = assertThrows(NcclAbortedException.class,
                () -> communicator.await(stream, DEADLINE));

        assertEquals("NcclCommunicator.await", aborted.call());
        assertEquals(pollsBefore, FakeNative.ncclCallCount("ncclCommGetAsyncError"), "nothing left to poll");
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
    }

    @Test
    void awaitAfterItsOwnTimeoutIsMisuseNotAnAbort() {
        FakeNative.cudartSetStreamBusy(true);
        assertThrows(NcclTimeoutException.class, () -> communicator.await(stream, Duration.ofMillis(20)));

        IllegalStateException misuse = assertThrows(IllegalStateException.class,
                () -> communicator.await(stream, DEADLINE));

        assertTrue(misuse.getMessage().contains("aborted"), misuse.getMessage());
    }

    @Test
    void aCommunicatorErrorDuringAwaitAbortsAndIsReported() {
        FakeNative.cudartSetStreamBusy(true);
        FakeNative.ncclFailNext("ncclCommGetAsyncError", 6);

        NcclException failure = assertThrows(NcclException.class, () -> communicator.await(stream, DEADLINE));

        assertEquals("ncclRemoteError", failure.errorName());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
    }

    @Test
    void aBroadcastInsideAGroupIsLaunchedAtGroupEnd() {
        try (DeviceBuffer send = DeviceBuffer.allocate(8); DeviceBuffer recv = DeviceBuffer.allocate(8)) {
            send.copyFromHost(MemorySegment.ofArray(new float[] {5f, 6f}), 0);

            Nccl.group(() -> communicator.broadcast(send, recv, 2, NcclDataType.FLOAT32, 0, stream));
            communicator.await(stream, DEADLINE);

            float[] back = new float[2];
            recv.copyToHost(0, MemorySegment.ofArray(back));
            assertArrayEquals(new float[] {5f, 6f}, back);
            assertEquals(1, FakeNative.ncclCallCount("ncclGroupEnd"));
        }
    }

    @Test
    void theSystemReportListsTheFakeDevice() {
        String report = SystemReport.text();

        assertTrue(report.contains("Devices: 1"), report);
        assertTrue(report.contains("device 0: 0000:fa:00.0, 16.0 GiB total"), report);
    }
}
