package io.github.panamanccl.sync;

import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.DeviceBuffer;
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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device data path over the fake CUDA runtime (host memory posing as device memory) and the fake NCCL
 * (nranks 1): the NCCL transport's group, deadline and abort; the device pipelines' packing, ordering and scatter,
 * one cudaMemcpyBatchAsync per bucket.
 */
@Tag("fake-cuda")
@Timeout(60)
class DevicePathFakeCudaTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();
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
        assertEquals(TransportException.Kind.DEADLINE, e.kind(), e.getMessage());
        assertTrue(elapsed >= TimeUnit.MILLISECONDS.toNanos(290) && elapsed < TimeUnit.SECONDS.toNanos(2),
                "failed after " + elapsed / 1_000_000 + " ms");
        assertEquals(0, FakeNative.ncclLiveComms(), "the communicator was aborted");
    }

    @Test
    void abort_requested_from_another_thread_is_performed_by_the_owner_at_its_next_step() throws Exception {
        Transport.DeviceGroup group = singleRankGroup();
        Thread other = Thread.ofPlatform().start(group::abort);
        other.join();
        DeviceBuffer bucket = DeviceBuffer.allocate(64);
        toClose.add(bucket);
        CudaEvent done = CudaEvent.create(false);
        toClose.add(done);
        TransportException e = assertThrows(TransportException.class,
                () -> group.broadcast(bucket, new Transport.BucketTag(1, 0, 1), null, done));
        assertEquals(TransportException.Kind.ABORTED, e.kind());
        assertEquals(0, FakeNative.ncclLiveComms());
        group.close(); // idempotent after the abort
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
