package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Communicator life cycle over the fake NCCL: non-blocking creation, deadlines, abort, close. */
class NcclCommunicatorTest {
    private static final Duration DEADLINE = Duration.ofSeconds(10);

    private long liveBefore;

    @BeforeEach
    void reset() {
        Nccl.ensureLoaded();
        FakeNative.ncclReset();
        liveBefore = FakeNative.ncclLiveComms();
    }

    @AfterEach
    void noHang() {
        FakeNative.ncclSetHang(false);
    }

    @Test
    void versionIsTheLibrarysDecoded() {
        NcclVersion version = Nccl.version();
        assertEquals(new NcclVersion(23007, 2, 30, 7), version);
    }

    @Test
    void createPollsTheNonBlockingInitUntilReadyAndCloseFinalizesAndDestroys() {
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);

        assertEquals(1, FakeNative.ncclCallCount("ncclCommInitRankConfig"));
        assertEquals(0, FakeNative.ncclLastConfig("blocking"), "created non-blocking");
        assertEquals(23007, FakeNative.ncclLastConfig("version"), "config carries the running version");
        assertTrue(FakeNative.ncclCallCount("ncclCommGetAsyncError") >= 2, "polled past ncclInProgress");
        assertEquals(liveBefore + 1, FakeNative.ncclLiveComms());
        assertEquals(1, communicator.count());
        assertEquals(0, communicator.rank());
        assertEquals(0, communicator.device());

        communicator.close();
        communicator.close();

        assertEquals(1, FakeNative.ncclCallCount("ncclCommFinalize"));
        assertEquals(1, FakeNative.ncclCallCount("ncclCommDestroy"), "close is idempotent");
        assertEquals(0, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
        IllegalStateException closed = assertThrows(IllegalStateException.class, communicator::count);
        assertTrue(closed.getMessage().contains("NcclCommunicator") && closed.getMessage().contains("closed"),
                closed.getMessage());
    }

    @Test
    void aDeadlineThatPassesAbortsAndThrows() {
        FakeNative.ncclSetHang(true);
        Duration deadline = Duration.ofMillis(200);
        long start = System.nanoTime();

        NcclTimeoutException timeout = assertThrows(NcclTimeoutException.class,
                () -> NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, deadline));

        Duration waited = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(waited.compareTo(deadline) >= 0, "gave up only after the deadline: " + waited);
        assertTrue(waited.compareTo(deadline.plusSeconds(10)) < 0, "gave up soon after the deadline: " + waited);
        assertEquals(deadline, timeout.deadline());
        assertEquals("ncclCommInitRankConfig", timeout.call());
        assertEquals(7, timeout.code());
        assertEquals("ncclInProgress", timeout.errorName());
        assertTrue(timeout.getMessage().contains("aborted"), timeout.getMessage());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms(), "the aborted communicator is gone");
    }

    @Test
    void anInitErrorIsReportedWithTheLastError() {
        FakeNative.ncclFailNext("ncclCommInitRankConfig", 2);

        NcclException failure = assertThrows(NcclException.class,
                () -> NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE));

        assertEquals("ncclCommInitRankConfig", failure.call());
        assertEquals(2, failure.code());
        assertEquals("ncclSystemError", failure.errorName());
        assertEquals("fake_nccl: forced failure of ncclCommInitRankConfig with result 2", failure.lastError());
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
    }

    @Test
    void anAsyncErrorDuringCreationAbortsTheCommunicator() {
        FakeNative.ncclFailNext("ncclCommGetAsyncError", 6);

        NcclException failure = assertThrows(NcclException.class,
                () -> NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE));

        assertEquals("ncclCommGetAsyncError", failure.call());
        assertEquals("ncclRemoteError", failure.errorName());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
    }

    @Test
    void afterAbortCloseDoesNothingAndUseIsRefused() {
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);

        communicator.abort();
        communicator.abort();
        communicator.close();

        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(0, FakeNative.ncclCallCount("ncclCommFinalize"));
        assertEquals(0, FakeNative.ncclCallCount("ncclCommDestroy"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
        IllegalStateException aborted = assertThrows(IllegalStateException.class, communicator::rank);
        assertTrue(aborted.getMessage().contains("aborted"), aborted.getMessage());
    }

    @Test
    void aFailingFinalizeAbortsInsteadOfLeaking() {
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
        FakeNative.ncclFailNext("ncclCommFinalize", 3);

        NcclException failure = assertThrows(NcclException.class, communicator::close);

        assertEquals("ncclCommFinalize", failure.call());
        assertEquals("ncclInternalError", failure.errorName());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
        communicator.close();
        assertEquals(1, FakeNative.ncclCallCount("ncclCommFinalize"), "a second close does nothing");
    }

    @Test
    void anAbortFromAnotherThreadEndsAWaitingClose() throws InterruptedException {
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
        FakeNative.ncclSetHang(true); // finalize never completes
        Thread watchdog = Thread.ofPlatform().start(() -> {
            long giveUp = System.nanoTime() + Duration.ofSeconds(30).toNanos(); // never hang the build
            while (FakeNative.ncclCallCount("ncclCommFinalize") == 0 && System.nanoTime() < giveUp) {
                Thread.onSpinWait();
            }
            communicator.abort();
        });

        communicator.close();
        watchdog.join();

        assertEquals(1, FakeNative.ncclCallCount("ncclCommFinalize"));
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(0, FakeNative.ncclCallCount("ncclCommDestroy"), "an aborted communicator is not destroyed too");
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
    }

    @Test
    void beginReturnsAFormingCommunicatorThatAwaitReadyMakesReady() {
        NcclCommunicator communicator = NcclCommunicator.begin(NcclUniqueId.generate(), 1, 0);

        assertEquals(1, FakeNative.ncclCallCount("ncclCommInitRankConfig"));
        assertEquals(0, FakeNative.ncclCallCount("ncclCommGetAsyncError"), "begin does not wait");
        assertTrue(communicator.toString().contains("forming"), communicator.toString());

        communicator.awaitReady(DEADLINE);
        long polls = FakeNative.ncclCallCount("ncclCommGetAsyncError");
        communicator.awaitReady(DEADLINE);

        assertEquals(polls, FakeNative.ncclCallCount("ncclCommGetAsyncError"), "a ready communicator is not polled");
        assertEquals(1, communicator.count());
        communicator.close();
        assertEquals(1, FakeNative.ncclCallCount("ncclCommDestroy"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
    }

    @Test
    void useBeforeReadyIsRefusedAndCloseAbortsTheFormation() {
        FakeNative.ncclSetHang(true);
        NcclCommunicator communicator = NcclCommunicator.begin(NcclUniqueId.generate(), 1, 0);

        IllegalStateException early = assertThrows(IllegalStateException.class, communicator::count);

        assertTrue(early.getMessage().contains("still forming") && early.getMessage().contains("awaitReady"),
                early.getMessage());
        assertEquals(0, FakeNative.ncclCallCount("ncclCommCount"), "refused before any native call");
        communicator.close();
        communicator.close();
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"), "NCCL cannot finalize a forming communicator");
        assertEquals(0, FakeNative.ncclCallCount("ncclCommFinalize"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
    }

    /**
     * The polls of every wait and the int queries write their out-parameter into the calling thread's
     * {@link OutSlot}, not into memory allocated per call: the fake records the address it was handed.
     */
    @Test
    void pollsAndQueriesWriteIntoTheCallingThreadsOutSlot() throws Exception {
        long slot = OutSlot.zeroed(0).address();
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
        try {
            assertEquals(slot, FakeNative.ncclLastOutAddress("ncclCommGetAsyncError"), "awaitReady's polls");
            assertEquals(1, communicator.count());
            assertEquals(slot, FakeNative.ncclLastOutAddress("ncclCommCount"));
            assertEquals(0, communicator.rank());
            assertEquals(slot, FakeNative.ncclLastOutAddress("ncclCommUserRank"));
            assertEquals(0, communicator.device());
            assertEquals(slot, FakeNative.ncclLastOutAddress("ncclCommCuDevice"));

            long[] other = new long[3];
            Thread.ofPlatform().start(() -> {
                other[0] = OutSlot.zeroed(0).address();
                other[1] = communicator.rank();
                other[2] = FakeNative.ncclLastOutAddress("ncclCommUserRank");
            }).join();
            assertEquals(0, other[1]);
            assertEquals(other[0], other[2], "another thread queries through its own slot");
            assertTrue(other[0] != slot, "each thread has a slot of its own");
        } finally {
            communicator.close();
        }
        assertEquals(slot, FakeNative.ncclLastOutAddress("ncclCommGetAsyncError"), "close's finalize polls");
    }

    @Test
    void anAbortFromAnotherThreadEndsTheFormationPromptlyAndIsNoTimeout() throws InterruptedException {
        FakeNative.ncclSetHang(true); // the other ranks never join
        NcclCommunicator communicator = NcclCommunicator.begin(NcclUniqueId.generate(), 1, 0);
        assertEquals(liveBefore + 1, FakeNative.ncclLiveComms());
        Thread controlPlane = Thread.ofPlatform().start(() -> {
            long giveUp = System.nanoTime() + Duration.ofSeconds(30).toNanos(); // never hang the build
            while (FakeNative.ncclCallCount("ncclCommGetAsyncError") < 3 && System.nanoTime() < giveUp) {
                Thread.onSpinWait(); // until awaitReady is polling
            }
            communicator.abort();
        });
        Duration generous = Duration.ofSeconds(60);
        long start = System.nanoTime();

        NcclAbortedException aborted = assertThrows(NcclAbortedException.class, () -> communicator.awaitReady(generous));

        Duration waited = Duration.ofNanos(System.nanoTime() - start);
        controlPlane.join();
        assertTrue(waited.compareTo(generous.dividedBy(6)) < 0, "ended long before the deadline: " + waited);
        assertEquals("ncclCommInitRankConfig", aborted.call());
        assertEquals("ncclInProgress", aborted.errorName());
        assertTrue(aborted.getMessage().contains("aborted by NcclCommunicator.abort()"), aborted.getMessage());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"), "aborted exactly once");
        assertEquals(liveBefore, FakeNative.ncclLiveComms());

        communicator.close();
        communicator.abort();
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"), "close and abort afterwards do nothing");
        assertEquals(0, FakeNative.ncclCallCount("ncclCommFinalize"));
        assertEquals(0, FakeNative.ncclCallCount("ncclCommDestroy"));
        assertThrows(NcclAbortedException.class, () -> communicator.awaitReady(generous), "the abort stays reported");
        IllegalStateException refused = assertThrows(IllegalStateException.class, communicator::rank);
        assertTrue(refused.getMessage().contains("aborted"), refused.getMessage());
    }

    @Test
    void anAbortBeforeAwaitReadyIsReportedAtOnce() {
        FakeNative.ncclSetHang(true);
        NcclCommunicator communicator = NcclCommunicator.begin(NcclUniqueId.generate(), 1, 0);

        communicator.abort(); // e.g. the control plane learned of a lost peer before the owner began to wait

        assertThrows(NcclAbortedException.class, () -> communicator.awaitReady(DEADLINE));
        assertEquals(0, FakeNative.ncclCallCount("ncclCommGetAsyncError"), "nothing left to poll");
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        assertEquals(liveBefore, FakeNative.ncclLiveComms());
    }

    @Test
    void awaitReadyAfterAnAbortOfAReadyCommunicatorIsMisuse() {
        NcclCommunicator communicator = NcclCommunicator.create(NcclUniqueId.generate(), 1, 0, DEADLINE);
        communicator.abort();

        IllegalStateException misuse = assertThrows(IllegalStateException.class, () -> communicator.awaitReady(DEADLINE));

        assertTrue(misuse.getMessage().contains("aborted"), misuse.getMessage());
    }

    @Test
    void invalidArgumentsAreRejectedBeforeAnyNativeCall() {
        NcclUniqueId id = NcclUniqueId.generate();

        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                () -> NcclCommunicator.create(id, 2, 2, DEADLINE));
        assertTrue(rank.getMessage().contains("rank 2"), rank.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NcclCommunicator.create(id, 0, 0, DEADLINE));
        assertThrows(IllegalArgumentException.class, () -> NcclCommunicator.create(id, 1, 0, Duration.ofSeconds(-1)));
        assertThrows(NullPointerException.class, () -> NcclCommunicator.create(null, 1, 0, DEADLINE));
        assertThrows(NullPointerException.class, () -> NcclCommunicator.create(id, 1, 0, null));
        assertThrows(IllegalArgumentException.class, () -> NcclCommunicator.begin(id, 2, -1));

        assertEquals(0, FakeNative.ncclCallCount("ncclCommInitRankConfig"));
    }

    @Test
    void groupAlwaysEndsTheGroupEvenWhenTheBodyThrows() {
        IllegalStateException bodyFailure = new IllegalStateException("body failed");

        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> Nccl.group(() -> {
            throw bodyFailure;
        }));

        assertEquals(bodyFailure, thrown);
        assertEquals(1, FakeNative.ncclCallCount("ncclGroupStart"));
        assertEquals(1, FakeNative.ncclCallCount("ncclGroupEnd"));

        int[] ran = {0};
        Nccl.group(() -> ran[0]++);
        assertEquals(1, ran[0]);
        assertEquals(2, FakeNative.ncclCallCount("ncclGroupEnd"));
    }

    @Test
    void aGroupEndFailureAfterABodyFailureIsAttachedAsSuppressed() {
        FakeNative.ncclFailNext("ncclGroupEnd", 5);

        RuntimeException thrown = assertThrows(RuntimeException.class, () -> Nccl.group(() -> {
            throw new IllegalStateException("body failed");
        }));

        assertEquals("body failed", thrown.getMessage());
        assertEquals(1, thrown.getSuppressed().length);
        NcclException endFailure = (NcclException) thrown.getSuppressed()[0];
        assertEquals("ncclGroupEnd", endFailure.call());
        assertEquals("ncclInvalidUsage", endFailure.errorName());
    }

    @Test
    void groupEndOutsideAGroupIsReported() {
        NcclException failure = assertThrows(NcclException.class, Nccl::groupEnd);

        assertEquals(5, failure.code());
        assertEquals("ncclGroupEnd: not in a group call.", failure.lastError());
    }
}
