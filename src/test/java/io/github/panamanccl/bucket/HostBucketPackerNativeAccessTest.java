package io.github.panamanccl.bucket;

import io.github.panamanccl.testing.JavaProcess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Tensors that are adjacent slices of one buffer, packed in a JVM that denies native access: the same bytes, copied
 * piece by piece, and a warning naming the option that allows the single copy.
 */
@Timeout(120)
class HostBucketPackerNativeAccessTest {
    private static final String FLAG = "--enable-native-access=ALL-UNNAMED";

    @Test
    void deniedNativeAccessCopiesPieceByPieceAndNamesTheFlag() throws Exception {
        assumeTrue(Runtime.version().feature() >= 24, "--illegal-native-access exists from JDK 24 on");

        JavaProcess.Result denied = run(List.of("--illegal-native-access=deny"));

        assertEquals(0, denied.exitCode(), denied.toString());
        assertEquals("round trip of 4 adjacent slices: identical", denied.out().strip(), denied.toString());
        assertTrue(denied.err().contains("native access is denied to the class path")
                && denied.err().contains("run java with " + FLAG), denied.toString());
    }

    @Test
    void enabledNativeAccessCopiesTheRunWithoutAWarning() throws Exception {
        assumeTrue(Runtime.version().feature() >= 24, "--illegal-native-access exists from JDK 24 on");

        JavaProcess.Result enabled = run(List.of("--illegal-native-access=deny", FLAG));

        assertEquals(0, enabled.exitCode(), enabled.toString());
        assertEquals("round trip of 4 adjacent slices: identical", enabled.out().strip(), enabled.toString());
        assertFalse(enabled.err().contains("native access is denied"), enabled.toString());
    }

    private static JavaProcess.Result run(List<String> options) throws IOException, InterruptedException {
        return JavaProcess.run(options, AdjacentSlices.class);
    }

    /** The child: four tensors carved back to back from one buffer, packed into a bucket and scattered into a copy. */
    static final class AdjacentSlices {
        public static void main(String[] args) {
            List<TensorSpec> specs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                specs.add(new TensorSpec("t" + t, DType.FLOAT32, 64)); // 256 bytes: no padding between them
            }
            BucketPlan plan = BucketPlanner.plan(specs, 4096);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment flat = arena.allocate(1024, 256);
                MemorySegment copy = arena.allocate(1024, 256);
                for (long i = 0; i < 256; i++) {
                    flat.setAtIndex(ValueLayout.JAVA_INT, i, (int) (i * 2654435761L));
                }
                MemorySegment bucket = arena.allocate(plan.bucketByteSize(0));
                HostBucketPacker.pack(plan, 0, slices(flat), bucket, 1);
                HostBucketPacker.scatter(plan, 0, bucket, slices(copy), 1);
                System.out.println("round trip of 4 adjacent slices: " + (flat.mismatch(copy) == -1 ? "identical" : "DIFFERENT"));
            }
        }

        private static MemorySegment[] slices(MemorySegment flat) {
            MemorySegment[] slices = new MemorySegment[4];
            for (int t = 0; t < 4; t++) {
                slices[t] = flat.asSlice(256L * t, 256);
            }
            return slices;
        }
    }
}
