package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.CudaEvent;
import io.github.panamanccl.CudaStream;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device sender pipeline -> recorded wire -> device receiver pipeline, checked byte for byte (fake or real CUDA). */
final class DeviceRoundTrip {
    private DeviceRoundTrip() {
    }

    private static long deadline(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    /** Device tensors holding the fixture pattern of {@code version}, and a host copy of them. */
    static Map<String, DeviceMemory> deviceTensors(BucketPlan plan, Map<String, MemorySegment> host,
            List<AutoCloseable> toClose) {
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

    static void copyToDevice(Map<String, MemorySegment> host, Map<String, DeviceMemory> device) {
        for (var e : device.entrySet()) {
            if (e.getValue().byteSize() > 0) {
                Cuda.memcpy(e.getValue().address(), host.get(e.getKey()).address(), e.getValue().byteSize());
            }
        }
    }

    static void copyToHost(Map<String, DeviceMemory> device, Map<String, MemorySegment> host) {
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
    static final class LoopbackDeviceGroup implements Transport.DeviceGroup {
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

    /** Packs version 7 on the device, checks each bucket against the host packer, receives and scatters it. */
    static void check(BucketPlan plan, CommitMode mode, Arena arena, List<AutoCloseable> toClose) {
        Map<String, MemorySegment> hostSources = SyncFixtures.allocate(plan, arena);
        Map<String, MemorySegment> hostResult = SyncFixtures.allocate(plan, arena);
        SyncFixtures.fill(plan, hostSources, 7);
        Map<String, DeviceMemory> sources = deviceTensors(plan, hostSources, toClose);
        Map<String, DeviceMemory> destinations = deviceTensors(plan, hostResult, toClose); // zeros

        List<MemorySegment> wire = new ArrayList<>();
        try (DeviceSenderPipeline sender = new DeviceSenderPipeline(plan, 0,
                Tensors.resolveDevice(plan, sources, "source"));
             LoopbackDeviceGroup root = new LoopbackDeviceGroup(true, wire, arena)) {
            sender.run(7, root, System.nanoTime(), deadline(10_000), p -> { });
            assertEquals(plan.bucketCount(), root.collectiveCalls());
        }
        MemorySegment hostPacked = arena.allocate(plan.maxBucketByteSize());
        MemorySegment[] hostTensors = Tensors.resolve(plan, hostSources, "source");
        for (int k = 0; k < plan.bucketCount(); k++) {
            HostBucketPacker.pack(plan, k, hostTensors, hostPacked);
            long size = plan.bucketByteSize(k);
            assertEquals(-1, MemorySegment.mismatch(wire.get(k), 0, size, hostPacked, 0, size),
                    "bucket " + k + " packed on the device byte for byte as on the host, padding zeroed");
        }

        try (DeviceReceiverPipeline receiver = DeviceReceiverPipeline.create(plan, 0, mode,
                Tensors.resolveDevice(plan, destinations, "destination"));
             LoopbackDeviceGroup member = new LoopbackDeviceGroup(false, wire, arena)) {
            assertEquals(mode == CommitMode.STAGED ? plan.totalBucketBytes() : 2 * plan.maxBucketByteSize(),
                    receiver.bufferBytes());
            receiver.receive(7, member, System.nanoTime(), deadline(10_000), p -> { });
            assertEquals(mode == CommitMode.IN_PLACE, receiver.touched(), "staged writes nothing before applying");
            copyToHost(destinations, hostResult);
            if (mode == CommitMode.STAGED) {
                assertTrue(SyncFixtures.firstMismatch(plan, hostResult, 7) != null, "staged: untouched until applied");
                receiver.commit(7, deadline(10_000), () -> { });
                copyToHost(destinations, hostResult);
            }
        }
        assertNull(SyncFixtures.firstMismatch(plan, hostResult, 7));
    }
}
