package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code demo --transport nccl} end to end on the fakes: as many fake GPUs as ranks, one communicator of 3 ranks
 * (the sender on GPU 0, receivers on GPUs 1 and 2, threads of this process) whose broadcasts move every bucket, then
 * every tensor, between the ranks; the demo verifies every tensor on every receiver by checksum.
 */
@Tag("fake-cuda")
@Timeout(180)
class DemoNcclFakeCudaTest {
    private static final Pattern ROW = Pattern.compile(
            "^(bucketed|per-tensor)\\s+(\\d+)\\s+\\S+ \\S+\\s+(\\d+)\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+(\\S+)\\s+(\\d+)/(\\d+)$");

    @BeforeEach
    void threeFakeGpus() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.ncclReset();
        FakeNative.cudartReset();
        FakeNative.cudartSetDeviceCount(3);
    }

    @AfterEach
    void oneFakeGpu() {
        Cuda.setDevice(0);
        FakeNative.cudartReset();
        FakeNative.ncclReset();
    }

    @Test
    void syncsEveryTensorOverNcclBetweenThreeRanksAndVerifiesIt() {
        CommandLineRun run = CommandLineRun.of("demo", "--scale", "0.0005", "--bucket-size", "1MiB", "--receivers", "2",
                "--versions", "2", "--transport", "nccl", "--no-progress");

        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertTrue(run.out().contains("transport: NCCL, sender on GPU 0, receiver r on GPU r"), run.out());
        List<Matcher> rows = run.out().lines().map(ROW::matcher).filter(Matcher::matches).toList();
        assertEquals(List.of("bucketed", "bucketed", "per-tensor"), rows.stream().map(row -> row.group(1)).toList());
        for (Matcher row : rows) {
            assertEquals("18867", row.group(3), "every tensor of the inventory is kept: " + row.group());
            assertEquals("2", row.group(8), "both receivers verified: " + row.group());
        }
        int buckets = Integer.parseInt(rows.getFirst().group(4));
        assertTrue(buckets > 1, "a 1 MiB cap splits the model: " + rows.getFirst().group());
        assertEquals(buckets, Integer.parseInt(rows.getFirst().group(5)), "one collective call per bucket");
        assertEquals("18867", rows.getLast().group(5), "one collective call per tensor");
        assertEquals(3, run.out().lines().filter(line -> line.contains("verified 18867 tensors on 2/2 receivers")).count(),
                run.out());
        // Every rank made each of those calls: 3 ranks x (2 bucketed versions + one per-tensor sync).
        assertEquals(3L * (2L * buckets + 18867), FakeNative.ncclCallCount("ncclBroadcast"));
        assertTrue(FakeNative.ncclPayloadBytesReceived() > 0, "the bytes moved between the ranks over the fake NCCL");
        assertEquals(FakeNative.ncclPayloadBytesSent(), FakeNative.ncclPayloadBytesReceived(),
                "the root sent what the receivers received (all three ranks are in this process)");
        assertEquals(0, FakeNative.ncclLiveComms(), "the demo released every communicator");
    }
}
