package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
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

    /** Device tensors holding the fixture pattern of {@code version}, and a host copy of them. */
    private Map<String, DeviceMemory> deviceTensors(BucketPlan plan, Map<String, MemorySegment> host) {
        Map<String, DeviceMemory> device = new LinkedHashMap<>();
        for (var t : plan.tensors()) {
            DeviceBuffer b = DeviceBuffer.allocate(Math.max(1, t.byteSize()));
            toClose.add(b);
            if (t.byteSize() > 0) {
                b.copyFromHost(host.get(t.name()), 0);
            }
            device.put(t.name(), b.slice(0, t.byteSize()));
        }
        return device;
    }

    private static void copyToHost(Map<String, DeviceMemory> device, Map<String, MemorySegment> host) {
        for (var e : device.entrySet()) {
            if (e.getValue().byteSize() > 0) {
                Cuda.memcpy(host.get(e.getKey()).address(), e.getValue().address(), e.getValue().byteSize());
            }
        }
    }

    /**
     * A one-process stand-in for the wire: the root side copies each broadcast bucket out (after its ready event),
     * the receiver side copies the recorded buckets in. Both record {@code done} on their stream, as NCCL does.
     */
    private static final class LoopbackDeviceGroup implements Transport.DeviceGroup {
        final List<MemorySegment> buckets;
        final boolean root;
        final CudaStream stream = CudaStream.create();
        final Arena arena;
        long calls;

        LoopbackDeviceGroup(boolean root, List<MemorySegment> buckets, Arena arena) {
            this.root = root;
            this.buckets = buckets;
            this.arena = arena;
        }

        @Override
        public void broadcast(DeviceMemory bucket, Transport.BucketTag tag, CudaEvent ready, CudaEvent done) {
            if (ready != null) {
                ready.synchronize();
            }
            if (root) {
                MemorySegment copy = arena.allocate(bucket.byteSize());
                Cuda.memcpy(copy.address(), bucket.address(), bucket.byteSize());
                buckets.add(copy);
            } else {
                Cuda.memcpy(bucket.address(), buckets.get(tag.bucket()).address(), bucket.byteSize());
            }
            calls++;
            done.record(stream);
        }

        @Override
        public void await(long deadlineNanos) {
            stream.synchronize();
        }

        @Override
        public CudaStream stream() {
            return stream;
        }

        @Override
        public int rank() {
            return root ? 0 : 1;
        }

        @Override
        public int worldSize() {
            return 2;
        }

        @Override
        public long collectiveCalls() {
            return calls;
        }

        @Override
        public void abort() {
        }

        @Override
        public void close() {
            stream.close();
        }
    }

    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void device_pipelines_pack_and_scatter_each_bucket_with_one_batched_copy(CommitMode mode) {
        BucketPlan plan = SyncFixtures.plan(1);
        Map<String, MemorySegment> hostSources = SyncFixtures.allocate(plan, arena);
        Map<String, MemorySegment> hostResult = SyncFixtures.allocate(plan, arena);
        SyncFixtures.fill(plan, hostSources, 7);
        Map<String, DeviceMemory> sources = deviceTensors(plan, hostSources);
        Map<String, DeviceMemory> destinations = deviceTensors(plan, hostResult); // zeros

        List<MemorySegment> wire = new ArrayList<>();
        long batchesBefore = FakeNative.cudartCallCount("cudaMemcpyBatchAsync");
        try (DeviceSenderPipeline sender = new DeviceSenderPipeline(plan, 0,
                Tensors.resolveDevice(plan, sources, "source"));
             LoopbackDeviceGroup root = new LoopbackDeviceGroup(true, wire, arena)) {
            sender.run(7, root, System.nanoTime(), deadline(10_000), p -> { });
            assertEquals(plan.bucketCount(), root.collectiveCalls());
        }
        assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaMemcpyBatchAsync") - batchesBefore,
                "one batched copy per bucket to pack");
        MemorySegment hostPacked = arena.allocate(plan.maxBucketByteSize());
        MemorySegment[] hostTensors = Tensors.resolve(plan, hostSources, "source");
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.pack(plan, k, hostTensors, hostPacked);
            for (var piece : plan.piecesIn(k)) {
                assertEquals(-1, MemorySegment.mismatch(wire.get(k), piece.bucketOffset(), piece.bucketOffset()
                        + piece.length(), hostPacked, piece.bucketOffset(), piece.bucketOffset() + piece.length()),
                        "bucket " + k + " piece of tensor " + piece.tensor() + " packed on the device as on the host");
            }
        }

        batchesBefore = FakeNative.cudartCallCount("cudaMemcpyBatchAsync");
        try (DeviceReceiverPipeline receiver = new DeviceReceiverPipeline(plan, 0, mode,
                Tensors.resolveDevice(plan, destinations, "destination"));
             LoopbackDeviceGroup member = new LoopbackDeviceGroup(false, wire, arena)) {
            assertEquals(mode == CommitMode.STAGED ? plan.totalBucketBytes() : 2 * plan.maxBucketByteSize(),
                    receiver.bufferBytes());
            receiver.receive(7, member, 1, System.nanoTime(), deadline(10_000), p -> { });
            assertEquals(mode == CommitMode.IN_PLACE, receiver.touched(), "staged writes nothing before applying");
            copyToHost(destinations, hostResult);
            if (mode == CommitMode.STAGED) {
                assertTrue(SyncFixtures.firstMismatch(plan, hostResult, 7) != null, "staged: untouched until applied");
                receiver.applyStaged(7, deadline(10_000));
                copyToHost(destinations, hostResult);
            }
        }
        assertNull(SyncFixtures.firstMismatch(plan, hostResult, 7));
        assertEquals(plan.bucketCount(), FakeNative.cudartCallCount("cudaMemcpyBatchAsync") - batchesBefore,
                "one batched copy per bucket to scatter");
    }
}
