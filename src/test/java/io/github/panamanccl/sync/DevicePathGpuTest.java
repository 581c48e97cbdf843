package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device data path on a real GPU with the real CUDA runtime and NCCL: real cudaMemcpyBatchAsync, events and
 * streams in the pipelines, and the NCCL transport's single-rank group (one GPU cannot hold two ranks).
 */
@Tag("gpu")
@Timeout(120)
class DevicePathGpuTest {
    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void realGpu() {
        assertFalse(FakeNative.cudartIsFake() || FakeNative.ncclIsFake(), "needs the real CUDA runtime and NCCL");
        assertTrue(Cuda.deviceCount() >= 1, "needs a GPU");
        Cuda.setDevice(0);
    }

    @AfterEach
    void release() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        arena.close();
    }

    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void device_pipelines_round_trip_a_mixed_dtype_plan(CommitMode mode) {
        DeviceRoundTrip.check(SyncFixtures.plan(8), mode, arena, toClose);
    }

    @Test
    void nccl_transport_single_rank_group_broadcasts_and_finalizes() {
        try (Transport.Rendezvous rv = Transport.nccl(0).openRendezvous(InetAddress.getLoopbackAddress(), 1);
             Transport.DeviceGroup group = (Transport.DeviceGroup) rv.awaitGroup(System.nanoTime()
                     + TimeUnit.SECONDS.toNanos(60));
             DeviceBuffer bucket = DeviceBuffer.allocate(1 << 20);
             CudaEvent done = CudaEvent.create(false)) {
            MemorySegment pattern = arena.allocate(1 << 20);
            for (long i = 0; i < pattern.byteSize(); i++) {
                pattern.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 13));
            }
            bucket.copyFromHost(pattern, 0);
            for (int k = 0; k < 4; k++) {
                group.broadcast(bucket, new Transport.BucketTag(1, k, 4), null, done);
            }
            group.await(System.nanoTime() + TimeUnit.SECONDS.toNanos(60));
            assertEquals(4, group.collectiveCalls());
            MemorySegment back = arena.allocate(1 << 20);
            bucket.copyToHost(0, back);
            assertEquals(-1, pattern.mismatch(back), "an in-place root broadcast leaves the bucket intact");
        }
    }
}
