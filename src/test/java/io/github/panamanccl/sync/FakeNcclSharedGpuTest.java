package io.github.panamanccl.sync;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fake libnccl follows NCCL 2.30's rule for ranks sharing a GPU: with {@code NCCL_MULTI_RANK_GPU_ENABLE=1} in a
 * rank's environment and a version of 2.30 or newer, two ranks of a communicator may sit on one GPU, a third may not;
 * otherwise two are refused ("Duplicate GPU detected"). The environment is a process's own, so each case runs in a
 * JVM of its own ({@link SharedGpuProbe}), every rank on its one fake GPU.
 */
@Tag("fake-cuda")
@Timeout(60)
class FakeNcclSharedGpuTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String DUPLICATE = "Duplicate GPU detected : rank 0 and rank 1 both on CUDA device 0000:fa:00.0";

    @BeforeEach
    void fakes() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
    }

    @Test
    void withTheVariableTwoRanksShareAGpuFromNccl230OnAndAThirdIsRefused() throws Exception {
        List<ChildJvm.Line> lines = probe("shared-gpu-enabled", Map.of("NCCL_MULTI_RANK_GPU_ENABLE", "1"),
                "2@23007", "2@23000", "3@23007", "2@22900");

        assertEquals("FORMED scenario=2@23007", lines.get(0).text());
        assertEquals("FORMED scenario=2@23000", lines.get(1).text());
        assertRefused(lines.get(2), "Duplicate GPU detected : rank 0 and rank 2 both on CUDA device 0000:fa:00.0 "
                + "(NCCL_MULTI_RANK_GPU_ENABLE allows 2 ranks per GPU)");
        assertRefused(lines.get(3), DUPLICATE); // 2.29 does not know the variable
    }

    @Test
    void withoutTheVariableOrWithAnotherValueTwoRanksOnOneGpuAreRefused() throws Exception {
        assertRefused(probe("shared-gpu-unset", Map.of(), "2@23007").getFirst(), DUPLICATE);
        assertRefused(probe("shared-gpu-zero", Map.of("NCCL_MULTI_RANK_GPU_ENABLE", "0"), "2@23007").getFirst(),
                DUPLICATE);
    }

    private static void assertRefused(ChildJvm.Line line, String lastError) {
        assertTrue(line.text().startsWith("REFUSED "), line.text());
        assertTrue(line.fields().get("message").contains("ncclInvalidUsage"), line.text());
        assertTrue(line.fields().get("message").contains(lastError), line.text());
    }

    /** One line per scenario, from a probe JVM with {@code environment} added. */
    private static List<ChildJvm.Line> probe(String name, Map<String, String> environment, String... scenarios)
            throws IOException, InterruptedException {
        try (ChildJvm child = ChildJvm.start(name, ChildJvm.propertiesOf(NcclReceiverProcess.LIBRARY_PROPERTIES),
                environment, SharedGpuProbe.class, List.of(scenarios))) {
            assertEquals(0, child.awaitExit(WAIT), name + " exited with an error: see target/sync-processes/" + name
                    + ".stderr.txt");
            List<ChildJvm.Line> lines = child.all();
            assertEquals(scenarios.length, lines.size(), lines.toString());
            return lines;
        }
    }
}
