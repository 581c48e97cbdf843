package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.testing.JavaProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * What a JVM that denies native access ({@code --illegal-native-access=deny}, JDK 24 on) gets, decided when the sync
 * is built: the host transport works as it does anywhere, without a word (it makes no native call: its sender
 * writes from the tensors with gathering socket writes, adjacent slices of one buffer included; HostBucketPacker's
 * fallback for those is HostBucketPackerNativeAccessTest's), and the nccl transport, which cannot work without
 * native calls, is refused by {@link Transport#nccl} with the option to pass, instead of a bare
 * IllegalCallerException later.
 */
@Timeout(120)
class DeniedNativeAccessTest {
    private static final List<String> DENY = List.of("--illegal-native-access=deny");
    private static final String FLAG = "--enable-native-access=ALL-UNNAMED";

    @Test
    void a_host_sync_works_without_native_access_and_without_a_warning() throws Exception {
        assumeTrue(Runtime.version().feature() >= 24, "--illegal-native-access exists from JDK 24 on");
        JavaProcess.Result denied = JavaProcess.run(DENY, Child.class, "host");
        assertEquals(0, denied.exitCode(), denied.toString());
        assertEquals("host sync of 4 adjacent slices: identical", denied.out().strip(), denied.toString());
        assertFalse(denied.err().contains("native access"), denied.toString());
    }

    @Test
    void the_nccl_transport_is_refused_when_it_is_built_naming_the_flag() throws Exception {
        assumeTrue(Runtime.version().feature() >= 24, "--illegal-native-access exists from JDK 24 on");
        JavaProcess.Result denied = JavaProcess.run(DENY, Child.class, "nccl");
        assertEquals(0, denied.exitCode(), denied.toString());
        assertEquals("IllegalStateException: the nccl transport calls native code, and native access is denied to the"
                + " class path (--illegal-native-access=deny): run java with " + FLAG, denied.out().strip(),
                denied.toString());

        JavaProcess.Result enabled = JavaProcess.run(List.of("--illegal-native-access=deny", FLAG), Child.class, "nccl");
        assertEquals("nccl transport built", enabled.out().strip(), enabled.toString());
    }

    /** The child: a host sync whose sources are adjacent slices of one buffer, or building the nccl transport. */
    static final class Child {
        public static void main(String[] args) throws Exception {
            if (args[0].equals("nccl")) {
                try {
                    Transport.nccl(0);
                    System.out.println("nccl transport built");
                } catch (RuntimeException e) {
                    System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
                }
                return;
            }
            List<TensorSpec> specs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                specs.add(new TensorSpec("t" + t, DType.FLOAT32, 64)); // 256 bytes: no padding between them
            }
            BucketPlan plan = BucketPlanner.plan(specs, 4096);
            try (Arena arena = Arena.ofShared()) {
                Map<String, MemorySegment> sources = slices(plan, arena.allocate(1024, 256));
                Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
                System.out.println("host sync of 4 adjacent slices: "
                        + (SyncFixtures.syncOnce(plan, sources, destinations, 5) == null ? "identical" : "DIFFERENT"));
            }
        }

        private static Map<String, MemorySegment> slices(BucketPlan plan, MemorySegment flat) {
            Map<String, MemorySegment> slices = new LinkedHashMap<>();
            for (int t = 0; t < plan.tensorCount(); t++) {
                slices.put(plan.tensor(t).name(), flat.asSlice(256L * t, 256));
            }
            return slices;
        }
    }
}
