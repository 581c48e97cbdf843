package io.github.panamanccl.sync;

import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaException;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.NcclAbortedException;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclException;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device data path over the fake CUDA runtime (host memory posing as device memory) and the fake NCCL
 * (nranks 1): the NCCL transport's group, deadline and abort; the device pipelines' packing, ordering and scatter,
 * one cudaMemcpyBatchAsync per bucket; a whole sender and receivers whose NCCL waits the control plane ends.
 */
@Tag("fake-cuda")
@Timeout(60)
class DevicePathFakeCudaTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
    /**
     * The NCCL transport with a single-rank communicator per rank, since the fake NCCL moves data only within one:
     * every rank still creates, broadcasts on, waits for and aborts a real (fake) communicator.
     */
    private static final Transport SOLO_NCCL = new NcclTransport(0, (id, worldSize, rank) -> NcclCommunicator.begin(id, 1, 0));
    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void reset() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
    }

    @AfterEach
    void release() throws Exception {
        FakeNative.cudartSetStreamBusy(false);
        FakeNative.ncclSetHang(false);
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        arena.close();
    }

    private static long deadline(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    private Transport.DeviceGroup singleRankGroup() {
        try (Transport.Rendezvous rv = Transport.nccl(0).openRendezvous(LOOPBACK, 1)) {
            Transport.DeviceGroup group = (Transport.DeviceGroup) rv.awaitGroup(deadline(5000));
            toClose.add(group);
            return group;
        }
    }

    @Test
    void nccl_group_issues_one_broadcast_per_bucket_and_fails_at_the_deadline_when_the_stream_never_finishes() {
        Transport.DeviceGroup group = singleRankGroup();
        DeviceBuffer bucket = DeviceBuffer.allocate(4096);
        toClose.add(bucket);
        CudaEvent done = CudaEvent.create(false);
        toClose.add(done);
        group.broadcast(bucket, new Transport.BucketTag(1, 0, 1), null, done);
        group.await(deadline(5000));
        assertEquals(1, group.collectiveCalls());
        assertEquals(1, FakeNative.ncclCallCount("ncclBroadcast"));

        FakeNative.cudartSetStreamBusy(true); // a peer that never takes its part: the broadcast never completes
        group.broadcast(bucket, new Transport.BucketTag(1, 0, 1), null, done);
        long start = System.nanoTime();
        TransportException e = assertThrows(TransportException.class, () -> group.await(deadline(300)));
        long elapsed = System.nanoTime() - start;
        assertEquals(FailureReason.DEADLINE, e.reason(), e.getMessage());
        assertTrue(elapsed >= TimeUnit.MILLISECONDS.toNanos(290) && elapsed < TimeUnit.SECONDS.toNanos(2),
                "failed after " + elapsed / 1_000_000 + " ms");
        assertEquals(0, FakeNative.ncclLiveComms(), "the communicator was aborted");
    }

    /** As the demo's per-tensor baseline calls it: no event to wait for and none to record. */
    @Test
    void a_broadcast_without_ready_and_done_events_is_enqueued_and_awaited() {
        Transport.DeviceGroup group = singleRankGroup();
        DeviceBuffer bucket = DeviceBuffer.allocate(4096);
        toClose.add(bucket);
        group.broadcast(bucket, new Transport.BucketTag(1, 0, 2), null, null);
        group.broadcast(bucket.slice(0, 100), new Transport.BucketTag(1, 1, 2), null, null);
        group.await(deadline(5000));
        assertEquals(2, group.collectiveCalls());
        assertEquals(2, FakeNative.ncclCallCount("ncclBroadcast"));
        assertEquals(0, FakeNative.cudartCallCount("cudaEventRecord"), "no event was recorded");
    }

    /**
     * A CUDA error of this rank's own stream while waiting is a local failure, not a peer's: the group reports
     * {@code LOCAL_ERROR}, the update fails naming this rank as the one at fault, here and on the others, and the
     * communicator, which NcclCommunicator.await leaves open on a CUDA error, is aborted.
     */
    @Test
    void a_cuda_error_of_the_own_stream_is_a_local_failure_and_aborts_the_communicator() {
        Transport.DeviceGroup group = singleRankGroup();
        DeviceBuffer bucket = DeviceBuffer.allocate(64);
        toClose.add(bucket);
        group.broadcast(bucket, new Transport.BucketTag(3, 0, 1), null, null);
        FakeNative.cudartFailNext("cudaStreamQuery", 700); // cudaErrorIllegalAddress
        TransportException e = assertThrows(TransportException.class, () -> group.await(deadline(5000)));
        assertEquals(FailureReason.LOCAL_ERROR, e.reason(), e.getMessage());
        assertEquals("cudaStreamQuery", assertInstanceOf(CudaException.class, e.getCause()).call());
        assertTrue(e.getMessage().contains("no peer at fault"), e.getMessage());
        assertEquals(0, FakeNative.ncclLiveComms(), "the communicator was aborted");

        Failure failure = Failure.of(e, 2);
        UpdateFailedException here = SyncFixtures.assertFailure(FailureReason.LOCAL_ERROR,
                failure.toException("receiver rank 2", 3, null));
        assertEquals(2, here.failedRank(), "this rank's own failure");
        UpdateFailedException elsewhere = SyncFixtures.assertFailure(FailureReason.LOCAL_ERROR,
                failure.toException("sender", 3, null));
        assertEquals(2, elsewhere.failedRank(), "a peer's failure, naming that peer");
    }

    @Test
    void abort_from_another_thread_frees_the_communicator_at_once_and_fails_the_owner_s_next_step() throws Exception {
        Transport.DeviceGroup group = singleRankGroup();
        Thread other = Thread.ofPlatform().start(group::abort);
        other.join();
        assertEquals(0, FakeNative.ncclLiveComms(), "aborted by the other thread itself");
        DeviceBuffer bucket = DeviceBuffer.allocate(64);
        toClose.add(bucket);
        CudaEvent done = CudaEvent.create(false);
        toClose.add(done);
        TransportException e = assertThrows(TransportException.class,
                () -> group.broadcast(bucket, new Transport.BucketTag(1, 0, 1), null, done));
        assertEquals(FailureReason.CLOSED, e.reason(), "aborted: " + e.getMessage());
        assertEquals(1, FakeNative.ncclCallCount("ncclCommAbort"));
        group.close(); // idempotent after the abort
        assertEquals(0, FakeNative.ncclCallCount("ncclCommFinalize"), "an aborted communicator is not finalized");
    }

    @Test
    void abort_from_another_thread_ends_a_wait_on_a_broadcast_that_never_completes() throws Exception {
        Transport.DeviceGroup group = singleRankGroup();
        DeviceBuffer bucket = DeviceBuffer.allocate(64);
        toClose.add(bucket);
        CudaEvent done = CudaEvent.create(false);
        toClose.add(done);
        FakeNative.cudartSetStreamBusy(true);
        group.broadcast(bucket, new Transport.BucketTag(1, 0, 1), null, done);
        Thread watchdog = Thread.ofPlatform().start(() -> {
            sleep(100);
            group.abort();
        });
        long start = System.nanoTime();
        TransportException e = assertThrows(TransportException.class, () -> group.await(deadline(20_000)));
        long elapsed = System.nanoTime() - start;
        watchdog.join();
        assertEquals(FailureReason.CLOSED, e.reason(), "aborted: " + e.getMessage());
        NcclAbortedException cause = assertInstanceOf(NcclAbortedException.class, e.getCause());
        assertEquals("NcclCommunicator.await", cause.call());
        assertTrue(elapsed < TimeUnit.SECONDS.toNanos(10), "the wait ended after " + elapsed / 1_000_000 + " ms");
        assertEquals(0, FakeNative.ncclLiveComms());
    }

    /**
     * Sender and two receivers over NCCL, every broadcast stuck (busy streams), a 20 s deadline: when receiver 1's
     * control connection drops, the sender learns it on the control plane and aborts its communicator, tells the
     * other receiver, which aborts its own, and every rank fails naming rank 1, long before the deadline.
     */
    @Test
    void a_receiver_lost_on_the_control_plane_ends_every_rank_s_nccl_wait_long_before_the_deadline() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        Map<String, DeviceMemory> sources = DeviceRoundTrip.deviceTensors(plan, SyncFixtures.allocate(plan, arena),
                toClose);
        WeightSender sender = WeightSender.builder().plan(plan).deviceSources(sources).receivers(2)
                .token(SyncFixtures.TOKEN).transport(SOLO_NCCL).start();
        toClose.add(sender);
        WeightReceiver lost = join(sender, plan, CommitMode.STAGED); // rank 1: joined first
        WeightReceiver survivor = join(sender, plan, CommitMode.IN_PLACE); // rank 2
        ExecutorService pool = Executors.newFixedThreadPool(3);
        toClose.add(pool::shutdownNow);

        FakeNative.cudartSetStreamBusy(true); // no broadcast completes: every rank waits in NcclCommunicator.await
        Duration deadline = Duration.ofSeconds(20);
        Future<Failed> atSender = pool.submit(() -> failure(() -> sender.publish(1, deadline)));
        Future<Failed> atSurvivor = pool.submit(() -> failure(() -> survivor.awaitUpdate(deadline)));
        Future<Failed> atLost = pool.submit(() -> failure(() -> lost.awaitUpdate(deadline)));
        long waitingSince = System.nanoTime();
        while (FakeNative.ncclCallCount("ncclBroadcast") < 3) { // every rank has enqueued bucket 0 and waits
            assertTrue(System.nanoTime() - waitingSince < TimeUnit.SECONDS.toNanos(10), "the ranks never broadcast");
            sleep(5);
        }
        sleep(100);
        long failedAt = System.nanoTime();
        lost.close(); // its control connection drops, as when its process dies

        for (Future<Failed> rank : List.of(atSender, atSurvivor)) {
            Failed f = rank.get(15, TimeUnit.SECONDS);
            UpdateFailedException e = SyncFixtures.assertFailure(FailureReason.PEER_LOST, f.exception());
            assertEquals(1, e.failedRank(), e.getMessage());
            long afterMillis = (f.atNanos() - failedAt) / 1_000_000;
            assertTrue(afterMillis < deadline.toMillis() / 2, "failed " + afterMillis + " ms after the control-plane "
                    + "failure; deadline " + deadline.toMillis() + " ms: " + e.getMessage());
        }
        SyncFixtures.assertFailure(FailureReason.PEER_LOST, atLost.get(15, TimeUnit.SECONDS).exception());
        assertEquals(java.util.Optional.of(new ReceiverState.Empty()),
                atSurvivor.get().exception().receiverState(), "no bucket arrived: the survivor's weights are intact");
        assertEquals(0, FakeNative.ncclLiveComms(), "every rank's communicator was aborted");
        assertEquals(3, FakeNative.ncclCallCount("ncclCommAbort"));
    }

    /**
     * Sender and two receivers over NCCL while the group forms: no communicator ever becomes ready (the fake keeps
     * them ncclInProgress), a 20 s deadline. When receiver 1's control connection drops, the sender aborts its
     * forming communicator, tells the other receiver, which aborts its own, and every surviving rank fails naming
     * rank 1, long before the deadline.
     */
    @Test
    void a_receiver_lost_while_the_nccl_group_forms_ends_every_rank_s_formation_long_before_the_deadline()
            throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        WeightSender sender = startSender(plan, SOLO_NCCL);
        WeightReceiver lost = join(sender, plan, CommitMode.STAGED, SOLO_NCCL); // rank 1: joined first
        WeightReceiver survivor = join(sender, plan, CommitMode.IN_PLACE, SOLO_NCCL); // rank 2
        ExecutorService pool = Executors.newFixedThreadPool(3);
        toClose.add(pool::shutdownNow);

        FakeNative.ncclSetHang(true); // every rank waits in NcclCommunicator.awaitReady
        Duration deadline = Duration.ofSeconds(20);
        Future<Failed> atSender = pool.submit(() -> failure(() -> sender.publish(1, deadline)));
        Future<Failed> atSurvivor = pool.submit(() -> failure(() -> survivor.awaitUpdate(deadline)));
        Future<ConnectionLostException> atLost = pool.submit(
                () -> assertThrows(ConnectionLostException.class, () -> lost.awaitUpdate(deadline)));
        long waitingSince = System.nanoTime();
        while (FakeNative.ncclCallCount("ncclCommInitRankConfig") < 3) { // every rank has begun its communicator
            assertTrue(System.nanoTime() - waitingSince < TimeUnit.SECONDS.toNanos(10), "the ranks never began");
            sleep(5);
        }
        sleep(100);
        assertEquals(3, FakeNative.ncclLiveComms(), "every rank's communicator is forming");
        long failedAt = System.nanoTime();
        lost.close(); // its control connection drops, as when its process dies

        for (Future<Failed> rank : List.of(atSender, atSurvivor)) {
            Failed f = rank.get(15, TimeUnit.SECONDS);
            UpdateFailedException e = SyncFixtures.assertFailure(FailureReason.PEER_LOST, f.exception());
            assertEquals(1, e.failedRank(), e.getMessage());
            long afterMillis = (f.atNanos() - failedAt) / 1_000_000;
            assertTrue(afterMillis < deadline.toMillis() / 2, "failed " + afterMillis + " ms after the control-plane "
                    + "failure; deadline " + deadline.toMillis() + " ms: " + e.getMessage());
        }
        atLost.get(15, TimeUnit.SECONDS);
        assertEquals(java.util.Optional.of(new ReceiverState.Empty()), atSurvivor.get().exception().receiverState());
        assertEquals(0, FakeNative.ncclLiveComms(), "every rank's forming communicator was aborted");
        assertEquals(3, FakeNative.ncclCallCount("ncclCommAbort"), "each exactly once");
        assertEquals(0, FakeNative.ncclCallCount("ncclBroadcast"));
    }

    /**
     * A receiver whose communicator cannot even begin reports GROUP_FAILED; the sender fails the update on its
     * arrival, aborting its forming communicator, and the other receiver's formation ends with it. The failing
     * receiver throws the update's failure too, with its own NCCL error as the cause.
     */
    @Test
    void a_receiver_that_cannot_join_the_nccl_group_ends_every_rank_s_formation_long_before_the_deadline()
            throws Exception {
        Transport rankOneFails = new NcclTransport(0, (id, worldSize, rank) -> {
            if (rank == 1) {
                throw new NcclException("ncclCommInitRankConfig", 2, "ncclSystemError", "injected", "");
            }
            return NcclCommunicator.begin(id, 1, 0);
        });
        BucketPlan plan = SyncFixtures.plan(1);
        WeightSender sender = startSender(plan, rankOneFails);
        WeightReceiver failing = join(sender, plan, CommitMode.STAGED, rankOneFails); // rank 1
        WeightReceiver survivor = join(sender, plan, CommitMode.STAGED, rankOneFails); // rank 2
        ExecutorService pool = Executors.newFixedThreadPool(3);
        toClose.add(pool::shutdownNow);

        FakeNative.ncclSetHang(true);
        Duration deadline = Duration.ofSeconds(20);
        long start = System.nanoTime();
        Future<Failed> atSender = pool.submit(() -> failure(() -> sender.publish(1, deadline)));
        Future<Failed> atSurvivor = pool.submit(() -> failure(() -> survivor.awaitUpdate(deadline)));
        Future<Failed> atFailing = pool.submit(() -> failure(() -> failing.awaitUpdate(deadline)));

        for (Future<Failed> rank : List.of(atSender, atSurvivor)) {
            Failed f = rank.get(15, TimeUnit.SECONDS);
            UpdateFailedException e = SyncFixtures.assertFailure(FailureReason.GROUP_FAILED, f.exception());
            assertEquals(1, e.failedRank(), e.getMessage());
            assertTrue(e.getMessage().contains("could not join the transport group"), e.getMessage());
            long afterMillis = (f.atNanos() - start) / 1_000_000;
            assertTrue(afterMillis < deadline.toMillis() / 2, "failed after " + afterMillis + " ms: " + e.getMessage());
        }
        UpdateFailedException own = SyncFixtures.assertFailure(FailureReason.GROUP_FAILED,
                atFailing.get(15, TimeUnit.SECONDS).exception());
        assertEquals(1, own.version());
        assertEquals(1, own.failedRank());
        assertEquals(java.util.Optional.of(new ReceiverState.Empty()), own.receiverState());
        TransportException formation = assertInstanceOf(TransportException.class, own.getCause(), own.toString());
        NcclException injected = assertInstanceOf(NcclException.class, formation.getCause());
        assertEquals("injected", injected.errorString());
        assertEquals(0, FakeNative.ncclLiveComms());
        // The sender's communicator began unless the GROUP_FAILED came before its own formation did (a busy machine);
        // the survivor's only if its GROUP request was handled before the sender's ABORT arrived. Whichever began
        // was aborted exactly once.
        long begun = FakeNative.ncclCallCount("ncclCommInitRankConfig");
        assertTrue(begun <= 2, "communicators begun: " + begun);
        assertEquals(begun, FakeNative.ncclCallCount("ncclCommAbort"), "every communicator that began, once");
    }

    private WeightSender startSender(BucketPlan plan, Transport transport) {
        Map<String, DeviceMemory> sources = DeviceRoundTrip.deviceTensors(plan, SyncFixtures.allocate(plan, arena),
                toClose);
        WeightSender sender = WeightSender.builder().plan(plan).deviceSources(sources).receivers(2)
                .token(SyncFixtures.TOKEN).transport(transport).start();
        toClose.add(sender);
        return sender;
    }

    private WeightReceiver join(WeightSender sender, BucketPlan plan, CommitMode mode) {
        return join(sender, plan, mode, SOLO_NCCL);
    }

    private WeightReceiver join(WeightSender sender, BucketPlan plan, CommitMode mode, Transport transport) {
        WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                .token(SyncFixtures.TOKEN).transport(transport).commitMode(mode)
                .scatterIntoDevice(DeviceRoundTrip.deviceTensors(plan, SyncFixtures.allocate(plan, arena), toClose))
                .join(Duration.ofSeconds(5));
        toClose.add(receiver);
        return receiver;
    }

    /** An update's failure and when it was thrown. */
    private record Failed(UpdateFailedException exception, long atNanos) {
    }

    private static Failed failure(Supplier<?> update) {
        UpdateFailedException e = assertThrows(UpdateFailedException.class, update::get);
        return new Failed(e, System.nanoTime());
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * Closing a device pipeline whose copy stream fails to synchronize still frees every buffer, event and stream,
     * reports that failure, and a second close does nothing.
     */
    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void device_pipelines_free_everything_even_when_the_copy_stream_fails_to_synchronize(CommitMode mode) {
        BucketPlan plan = SyncFixtures.plan(1);
        long[] tensors = Tensors.resolveDevice(plan,
                DeviceRoundTrip.deviceTensors(plan, SyncFixtures.allocate(plan, arena), toClose), "tensor");
        long before = FakeNative.cudartLiveAllocations();
        List<AutoCloseable> pipelines = List.of(new DeviceSenderPipeline(plan, 0, tensors),
                DeviceReceiverPipeline.create(plan, 0, mode, tensors));
        assertTrue(FakeNative.cudartLiveAllocations() > before);
        long streamsDestroyed = FakeNative.cudartCallCount("cudaStreamDestroy");
        for (AutoCloseable pipeline : pipelines) {
            FakeNative.cudartFailNext("cudaStreamSynchronize", 700); // cudaErrorIllegalAddress
            CudaException e = assertThrows(CudaException.class, pipeline::close);
            assertEquals("cudaStreamSynchronize", e.call());
            long synchronizations = FakeNative.cudartCallCount("cudaStreamSynchronize");
            assertDoesNotThrow(pipeline::close, "idempotent");
            assertEquals(synchronizations, FakeNative.cudartCallCount("cudaStreamSynchronize"), "closed once");
        }
        assertEquals(before, FakeNative.cudartLiveAllocations(), "every device buffer was freed");
        assertEquals(streamsDestroyed + 2, FakeNative.cudartCallCount("cudaStreamDestroy"), "both copy streams");
    }

    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void device_pipelines_pack_and_scatter_each_bucket_with_one_batched_copy(CommitMode mode) {
        BucketPlan plan = SyncFixtures.plan(1);
        long before = FakeNative.cudartCallCount("cudaMemcpyBatchAsync");
        DeviceRoundTrip.check(plan, mode, arena, toClose);
        assertEquals(2L * plan.bucketCount(), FakeNative.cudartCallCount("cudaMemcpyBatchAsync") - before,
                "one batched copy per bucket to pack, one per bucket to scatter");
    }
}
