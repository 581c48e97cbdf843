package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.TensorSpec;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Host segments and device memory are matched to a plan by the same rules, with the same messages. */
class TensorsTest {
    private static final BucketPlan PLAN = SyncFixtures.plan(1);

    /** Device memory as the matcher sees it: an address and a size (never dereferenced). */
    private record FakeDeviceMemory(long address, long byteSize) implements DeviceMemory {
        @Override
        public DeviceMemory slice(long offset, long length) {
            return new FakeDeviceMemory(address + offset, length);
        }
    }

    @Test
    void host_and_device_tensors_resolve_in_plan_order_and_fail_alike() {
        try (Arena arena = Arena.ofConfined()) {
            Map<String, MemorySegment> host = SyncFixtures.allocate(PLAN, arena);
            Map<String, DeviceMemory> device = new LinkedHashMap<>();
            for (int t = 0; t < PLAN.tensorCount(); t++) {
                device.put(PLAN.tensor(t).name(), new FakeDeviceMemory(0x1000L * (t + 1), PLAN.tensor(t).byteSize()));
            }
            MemorySegment[] segments = Tensors.resolve(PLAN, host, "source");
            long[] addresses = Tensors.resolveDevice(PLAN, device, "source");
            long[] expected = new long[PLAN.tensorCount()];
            for (int t = 0; t < PLAN.tensorCount(); t++) {
                assertSame(host.get(PLAN.tensor(t).name()), segments[t]);
                expected[t] = 0x1000L * (t + 1);
            }
            assertArrayEquals(expected, addresses);

            TensorSpec first = PLAN.tensor(0);
            Map<String, MemorySegment> wrongHost = new HashMap<>(host);
            wrongHost.put(first.name(), arena.allocate(first.byteSize() + 1));
            Map<String, DeviceMemory> wrongDevice = new HashMap<>(device);
            wrongDevice.put(first.name(), new FakeDeviceMemory(8, first.byteSize() + 1));
            String message = assertThrows(IllegalArgumentException.class,
                    () -> Tensors.resolve(PLAN, wrongHost, "source")).getMessage();
            assertEquals(message, assertThrows(IllegalArgumentException.class,
                    () -> Tensors.resolveDevice(PLAN, wrongDevice, "source")).getMessage());
            assertEquals("source for tensor " + first.name() + " has " + (first.byteSize() + 1) + " bytes, the plan says "
                    + first.byteSize() + " (" + first.dtype().torchName() + " " + first.shapeString() + ")", message);

            wrongHost.put(first.name(), host.get(first.name()));
            wrongHost.put("extra", host.get(first.name()));
            assertEquals("sources for tensors not in the plan: [extra]", assertThrows(IllegalArgumentException.class,
                    () -> Tensors.resolve(PLAN, wrongHost, "source")).getMessage());
            wrongDevice.remove(first.name());
            assertEquals("no destination for tensor " + first.name() + " of the plan", assertThrows(
                    IllegalArgumentException.class, () -> Tensors.resolveDevice(PLAN, wrongDevice, "destination"))
                    .getMessage());
        }
    }
}
