package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench/host/gloo_peer.py run for real, on the models the Java side writes out: its results read as JMH results
 * with the Java benchmarks' parameters. Skipped where the system python has no torch with gloo (compare.sh installs it).
 */
class GlooPeerTest {
    private static final Path SCRIPT = Path.of("bench/host/gloo_peer.py");
    private static final String PYTHON = HostComparison.Settings.parse(List.of(), java.time.ZonedDateTime.now()).python();

    @TempDir
    Path directory;

    @Test
    void aPythonWithoutTorchIsReportedAsTheReasonToSkip() throws InterruptedException {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        GlooPeer peer = new GlooPeer("/nonexistent/python3", SCRIPT, new PrintStream(printed, true, StandardCharsets.UTF_8));

        String outcome = peer.run(List.of(), new HostComparisonPlan.GlooPart(1, List.of(), 1, Duration.ofSeconds(1)), 64,
                directory.resolve("out.json"));

        assertTrue(outcome.startsWith("skipped: cannot start /nonexistent/python3"), outcome);
        assertTrue(printed.toString(StandardCharsets.UTF_8).startsWith("gloo peer skipped: "), printed.toString());
    }

    @Test
    void thePeerMovesTheSameTensorsAndReportsThemLikeJmh() throws IOException, InterruptedException {
        GlooPeer peer = new GlooPeer(PYTHON, SCRIPT, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        Optional<String> unavailable = peer.whyUnavailable();
        assumeTrue(unavailable.isEmpty(), () -> "gloo peer not runnable here: " + unavailable.orElse(""));
        Map<Integer, Path> inventories = HostComparison.writeInventories(List.of(1000, 4000), 4, directory);
        Path out = directory.resolve("gloo.json");

        String outcome = peer.run(List.copyOf(inventories.values()), new HostComparisonPlan.GlooPart(2, List.of(1000, 4000), 1,
                Duration.ofSeconds(20)), 4, out);

        assertEquals("ran", outcome);
        List<JmhResult> results = JmhResult.read(out);
        assertEquals(Set.of("perTensor/1000", "flattened/1000", "perTensor/4000", "flattened/4000"),
                results.stream().map(r -> r.method() + "/" + r.params().get("tensors")).collect(Collectors.toSet()));
        for (JmhResult result : results) {
            assertEquals("GlooSync", result.className());
            assertEquals(Map.of("tensors", result.params().get("tensors"), "receivers", "2", "modelMiB", "4"), result.params());
            assertTrue(result.secondsPerOp() > 0, result.toString());
        }
    }
}
