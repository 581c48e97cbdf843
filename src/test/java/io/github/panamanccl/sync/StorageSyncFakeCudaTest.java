package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zero-copy device modes over the fake CUDA runtime and the fake NCCL with three real ranks in this JVM (the
 * sender on fake GPU 0, receivers on GPUs 1 and 2, each rank's thread on its device; one communicator of nranks 3
 * whose broadcasts move the bytes): byte-exact versions and the native copies the fakes count per update, zero-copy
 * against pack and scatter; device storage the receiver allocates; a GPU reader's lease event; what is refused.
 */
@Tag("fake-cuda")
@Timeout(120)
class StorageSyncFakeCudaTest {
    private static final Duration DEADLINE = Duration.ofSeconds(20);
    private static final List<String> COPIES = List.of("cudaMemcpyBatchAsync", "cudaMemcpyAsync", "cudaMemcpy");

    private final BucketPlan plan = SyncFixtures.plan(1);
    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private HostPlanStorage host;
    private DevicePlanStorage source;

    @BeforeEach
    void fakes() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        FakeNative.cudartSetDeviceCount(3);
        Cuda.setDevice(0);
        host = HostPlanStorage.allocate(plan);
        source = DevicePlanStorage.allocate(plan);
    }

    @AfterEach
    void release() throws Exception {
        pool.shutdownNow();
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        source.close();
        host.close();
        FakeNative.cudartReset();
        FakeNative.ncclReset();
    }

    private <T> T onThread(Callable<T> task) throws Exception {
        return pool.submit(task).get(30, TimeUnit.SECONDS);
    }

    private WeightSender sender(java.util.function.UnaryOperator<WeightSender.Builder> sources) {
        WeightSender sender = sources.apply(WeightSender.builder()).receivers(2).token(SyncFixtures.TOKEN)
                .transport(Transport.nccl(0)).start();
        toClose.add(sender);
        return sender;
    }

    /** Joins on a thread of its own (allocating device storage makes the receiver's device current there). */
    private WeightReceiver receiver(WeightSender sender, int device, CommitMode mode,
            java.util.function.UnaryOperator<WeightReceiver.Builder> destination) throws Exception {
        WeightReceiver receiver = onThread(() -> destination.apply(WeightReceiver.builder()
                .sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN).transport(Transport.nccl(device))
                .commitMode(mode)).join(Duration.ofSeconds(10)));
        toClose.add(receiver);
        return receiver;
    }

    /** The fakes' copy counters, summed over every rank of this process. */
    private static long[] copies() {
        return COPIES.stream().mapToLong(FakeNative::cudartCallCount).toArray();
    }

    /** Publishes {@code version} to both receivers; returns the copies made meanwhile, per function in COPIES. */
    private long[] publish(WeightSender sender, long version, WeightReceiver... receivers) throws Exception {
        SyncFixtures.fill(plan, host.tensorSegments(), version);
        DeviceStorageCopies.upload(host, source); // finished before publish, as the zero-copy sender requires
        long[] before = copies();
        long broadcasts = FakeNative.ncclCallCount("ncclBroadcast");
        List<Future<Optional<UpdateReport>>> updates = new ArrayList<>();
        for (WeightReceiver r : receivers) {
            updates.add(pool.submit(() -> r.awaitUpdate(DEADLINE)));
        }
        UpdateReport report = sender.publish(version, DEADLINE);
        for (Future<Optional<UpdateReport>> update : updates) {
            assertEquals(version, update.get(30, TimeUnit.SECONDS).orElseThrow().version());
        }
        long[] after = copies();
        assertEquals(plan.bucketCount(), report.collectiveCalls());
        assertEquals(3L * plan.bucketCount(), FakeNative.ncclCallCount("ncclBroadcast") - broadcasts,
                "one ncclBroadcast per bucket on each of the 3 ranks");
        for (int i = 0; i < after.length; i++) {
            after[i] -= before[i];
        }
        return after;
    }

    /** The first tensor of device storage {@code storage} not holding {@code version}'s pattern, or null. */
    private String mismatch(DevicePlanStorage storage, long version) {
        try (HostPlanStorage copy = HostPlanStorage.allocate(plan)) {
            DeviceStorageCopies.download(storage, copy);
            return SyncFixtures.firstMismatch(plan, copy.tensorSegments(), version);
        }
    }

    @Test
    void zero_copy_versions_reach_in_place_and_flipped_device_storage_byte_exact_with_no_copy_at_all()
            throws Exception {
        WeightSender sender = sender(b -> b.sources(source));
        WeightReceiver inPlace = receiver(sender, 1, CommitMode.IN_PLACE, WeightReceiver.Builder::allocateStorage);
        WeightReceiver flip = receiver(sender, 2, CommitMode.STAGED, WeightReceiver.Builder::allocateStorage);
        DevicePlanStorage live = inPlace.storage(DevicePlanStorage.class);
        StagedWeights<DevicePlanStorage> weights = flip.stagedWeights(DevicePlanStorage.class);
        assertEquals(1, live.device(), "allocated on the receiver's device");
        assertThrows(IllegalStateException.class, weights::acquire, "nothing committed yet");
        List<String> perUpdate = new ArrayList<>();
        for (long version = 1; version <= 3; version++) {
            long[] copies = publish(sender, version, inPlace, flip);
            assertEquals(List.of(0L, 0L, 0L), List.of(copies[0], copies[1], copies[2]),
                    "no pack, no scatter, no staging copy on any rank: " + COPIES);
            assertNull(mismatch(live, version));
            try (StagedWeights.Lease<DevicePlanStorage> lease = weights.acquire()) {
                assertEquals(version, lease.version());
                assertEquals(2, lease.storage().device());
                assertNull(mismatch(lease.storage(), version));
            }
            perUpdate.add("v" + version + " " + copies[0] + "/" + copies[1] + "/" + copies[2]);
        }
        Measurements.report("zero-copy device copies", "3 ranks (storage sender, in-place and flip receivers), "
                + plan.bucketCount() + " buckets; cudaMemcpyBatchAsync/cudaMemcpyAsync/cudaMemcpy per update, all "
                + "ranks: " + String.join("; ", perUpdate));
    }

    @Test
    void pack_and_scatter_make_one_batched_copy_per_bucket_on_every_rank() throws Exception {
        Arena arena = Arena.ofShared();
        toClose.add(arena::close);
        WeightSender sender = sender(b -> b.plan(plan).deviceSources(source.tensorMemory()));
        Map<String, DeviceMemory> inPlaceTensors = DeviceRoundTrip.deviceTensors(plan,
                SyncFixtures.allocate(plan, arena), toClose);
        Map<String, DeviceMemory> stagedTensors = DeviceRoundTrip.deviceTensors(plan,
                SyncFixtures.allocate(plan, arena), toClose);
        WeightReceiver inPlace = receiver(sender, 1, CommitMode.IN_PLACE, b -> b.scatterIntoDevice(inPlaceTensors));
        WeightReceiver staged = receiver(sender, 2, CommitMode.STAGED, b -> b.scatterIntoDevice(stagedTensors));
        List<String> perUpdate = new ArrayList<>();
        for (long version = 1; version <= 2; version++) {
            long[] copies = publish(sender, version, inPlace, staged);
            assertEquals(3L * plan.bucketCount(), copies[0], "one cudaMemcpyBatchAsync per bucket per rank: pack "
                    + "on the sender, scatter on each receiver");
            assertEquals(0, copies[1] + copies[2]);
            for (Map<String, DeviceMemory> tensors : List.of(inPlaceTensors, stagedTensors)) {
                Map<String, java.lang.foreign.MemorySegment> back = SyncFixtures.allocate(plan, arena);
                DeviceRoundTrip.copyToHost(tensors, back);
                assertNull(SyncFixtures.firstMismatch(plan, back, version));
            }
            perUpdate.add("v" + version + " " + copies[0] + "/" + copies[1] + "/" + copies[2]);
        }
        Measurements.report("pack+scatter device copies", "3 ranks (packing sender, scatter receivers in place and "
                + "staged), " + plan.bucketCount() + " buckets; cudaMemcpyBatchAsync/cudaMemcpyAsync/cudaMemcpy per "
                + "update, all ranks: " + String.join("; ", perUpdate));
    }

    /**
     * A GPU reader closes its lease with an event: the update that overwrites that storage (two commits later) makes
     * its stream wait for the event before the first broadcast; the one in between does not.
     */
    @Test
    void a_lease_closed_after_an_event_makes_the_update_that_overwrites_its_storage_wait_for_it() throws Exception {
        WeightSender sender = sender(b -> b.sources(source));
        WeightReceiver inPlace = receiver(sender, 1, CommitMode.IN_PLACE, WeightReceiver.Builder::allocateStorage);
        WeightReceiver flip = receiver(sender, 2, CommitMode.STAGED, WeightReceiver.Builder::allocateStorage);
        StagedWeights<DevicePlanStorage> weights = flip.stagedWeights(DevicePlanStorage.class);
        publish(sender, 1, inPlace, flip);
        try (CudaStream reader = CudaStream.create(); CudaEvent lastRead = CudaEvent.create(false)) {
            StagedWeights.Lease<DevicePlanStorage> lease = weights.acquire();
            lastRead.record(reader); // after the reader's kernels on the stream
            lease.closeAfter(lastRead);
            long waits = FakeNative.cudartCallCount("cudaStreamWaitEvent");
            publish(sender, 2, inPlace, flip);
            assertEquals(waits, FakeNative.cudartCallCount("cudaStreamWaitEvent"), "version 2 lands in the other one");
            publish(sender, 3, inPlace, flip);
            assertEquals(waits + 1, FakeNative.cudartCallCount("cudaStreamWaitEvent"),
                    "version 3 overwrites version 1's storage after the reader's event");
            try (StagedWeights.Lease<DevicePlanStorage> three = weights.acquire()) {
                assertNull(mismatch(three.storage(), 3));
            }
        }
    }

    @Test
    void device_storage_the_receiver_allocated_is_freed_when_it_closes_and_foreign_storage_is_refused()
            throws Exception {
        WeightSender sender = sender(b -> b.sources(source));
        long before = FakeNative.cudartLiveAllocations();
        WeightReceiver flip = receiver(sender, 2, CommitMode.STAGED, WeightReceiver.Builder::allocateStorage);
        assertEquals(before + 2, FakeNative.cudartLiveAllocations(), "two storages, one allocation each");
        StagedWeights<DevicePlanStorage> weights = flip.stagedWeights(DevicePlanStorage.class);
        assertThrows(IllegalStateException.class, () -> flip.stagedWeights(HostPlanStorage.class));
        assertThrows(IllegalStateException.class, () -> flip.storage(DevicePlanStorage.class), "it flips");
        flip.close();
        assertEquals(before, FakeNative.cudartLiveAllocations(), "both freed");
        assertThrows(IllegalStateException.class, weights::acquire);

        IllegalArgumentException otherDevice = assertThrows(IllegalArgumentException.class, () -> WeightReceiver
                .builder().sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN).transport(Transport.nccl(1))
                .commitMode(CommitMode.IN_PLACE).receiveInto(source).join(Duration.ofSeconds(5)));
        assertTrue(otherDevice.getMessage().contains("on device 0, the transport runs on device 1"),
                otherDevice.getMessage());
        IllegalStateException overHost = assertThrows(IllegalStateException.class, () -> WeightSender.builder()
                .sources(source).receivers(1).token(SyncFixtures.TOKEN).start());
        assertTrue(overHost.getMessage().contains("needs a HostPlanStorage"), overHost.getMessage());
    }
}
