package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import io.github.panamanccl.bench.HostComparisonTable.Contender;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The comparison's rows pair every system's score of one run by tensor and receiver count; targets follow the ratios. */
class HostComparisonTableTest {
    private static final Path RUN = Path.of("2026-01-01-host-compare-x.json");

    @TempDir
    Path directory;

    @Test
    void rowsPairTheSystemsOfOneRunAndTheRatiosDivideTheirTimes() {
        List<JmhResult> run = List.of(
                sync("bucketed", 40, 30, 1000, 1), sync("perTensor", 20, 25, 1000, 1), sync("rawTcp", 30, 60, 1000, 1),
                gloo("perTensor", 300, 1000, 1), gloo("flattened", 100, 1000, 1),
                sync("bucketed", 50, Double.NaN, 18867, 1), sync("perTensor", 500, Double.NaN, 18867, 1),
                sync("rawTcp", 30, Double.NaN, 18867, 1),
                gloo("flattened", 400, 18867, 1),
                sync("bucketed", 200, Double.NaN, 18867, 8), sync("rawTcp", 150, Double.NaN, 18867, 8));

        List<HostComparisonTable.Row> rows = HostComparisonTable.rows(run);

        assertEquals(List.of(List.of(1000, 1), List.of(18867, 1), List.of(18867, 8)),
                rows.stream().map(row -> List.of(row.tensors(), row.receivers())).toList());
        HostComparisonTable.Row small = rows.getFirst();
        assertEquals(0.5, small.speedUpOver(Contender.PER_TENSOR), 1e-9);
        assertEquals(0.75, small.speedUpOver(Contender.RAW_TCP), 1e-9);
        assertEquals(7.5, small.speedUpOver(Contender.GLOO_PER_TENSOR), 1e-9);
        assertEquals(2.5, small.speedUpOver(Contender.GLOO_FLATTENED), 1e-9);
        assertEquals(2.0, small.cpuSpeedUpOver(Contender.RAW_TCP), 1e-9, "CPU: 60 ms raw TCP, 30 ms bucketed");
        HostComparisonTable.Row scaling = rows.get(2);
        assertTrue(Double.isNaN(scaling.ms(Contender.PER_TENSOR)) && Double.isNaN(scaling.ms(Contender.GLOO_FLATTENED)),
                "not measured: NaN");
        assertTrue(Double.isNaN(scaling.cpuMs(Contender.BUCKETED)), "no CPU time measured");
        assertEquals(0.75, scaling.speedUpOver(Contender.RAW_TCP), 1e-9);

        assertEquals(Optional.of(false), HostComparisonTable.met(rows, row -> row.speedUpOver(Contender.PER_TENSOR),
                HostComparisonTable.PER_TENSOR_TARGET), "per-tensor wins at 1 000 tensors");
        assertEquals(Optional.of(false), HostComparisonTable.met(rows, row -> row.speedUpOver(Contender.RAW_TCP),
                HostComparisonTable.LOOPBACK_TARGET));
        assertEquals(Optional.of(false), HostComparisonTable.met(rows, row -> row.speedUpOver(Contender.GLOO_FLATTENED),
                HostComparisonTable.GLOO_FLATTENED_TARGET), "2.5x at 1 000 tensors, 8x at 18 867");
        assertEquals(Optional.of(true), HostComparisonTable.met(rows.subList(1, 2),
                row -> row.speedUpOver(Contender.GLOO_FLATTENED), HostComparisonTable.GLOO_FLATTENED_TARGET));
        assertEquals(Optional.empty(), HostComparisonTable.met(rows.subList(2, 3), row -> row.speedUpOver(Contender.PER_TENSOR),
                HostComparisonTable.PER_TENSOR_TARGET), "no row with both scores");
    }

    @Test
    void bucketRowsGiveGigabytesPerSecondOfTheModelAndTheShareOfTheLimit() {
        List<JmhResult> run = List.of(
                bucketSize("bucketed", 0.2, 1), bucketSize("rawTcp", 0.1, 1), bucketSize("bucketed", 0.25, 256));

        List<HostComparisonTable.BucketRow> rows = HostComparisonTable.bucketRows(run);

        assertEquals(2, rows.size());
        assertEquals(256.0 * (1 << 20) / 0.2 / 1e9, rows.getFirst().bucketedGbps(), 1e-9);
        assertEquals(0.5, rows.getFirst().ofLoopback(), 1e-9);
        assertTrue(Double.isNaN(rows.get(1).rawTcpGbps()));
    }

    @Test
    void printsTheNewestRunByItsDateWithTheTargets() throws IOException {
        Path older = directory.resolve("b-older.json");
        Path newer = directory.resolve("a-newer.json");
        Files.writeString(older, JmhJson.array(JmhJson.score("HostSyncBenchmark.bucketed", "ms/op", 99, "tensors", "1000")));
        Files.writeString(RunMetadata.metadataPathFor(older), "{\"date\": \"2026-01-01T10:00:00Z\"}");
        Files.writeString(newer, JmhJson.array(
                JmhJson.score("HostSyncBenchmark.bucketed", "ms/op", 10, "tensors", "1000", "receivers", "1"),
                JmhJson.score("HostSyncBenchmark.perTensor", "ms/op", 20, "tensors", "1000", "receivers", "1"),
                JmhJson.score("HostSyncBenchmark.rawTcp", "ms/op", 9.5, "tensors", "1000", "receivers", "1"),
                JmhJson.score("GlooSync.flattened", "ms/op", 60, "tensors", "1000", "receivers", "1")));
        Files.writeString(RunMetadata.metadataPathFor(newer), "{\"date\": \"2026-02-01T10:00:00Z\"}");
        List<JmhResult> all = new java.util.ArrayList<>(JmhResult.read(newer));
        all.addAll(JmhResult.read(older));
        ByteArrayOutputStream printed = new ByteArrayOutputStream();

        HostComparisonTable.printNewest(all, new PrintStream(printed, true, StandardCharsets.UTF_8));

        String output = printed.toString(StandardCharsets.UTF_8);
        assertTrue(output.contains("| 1000 | 1 | 10.0 | 20.0 | 9.50 | - | 60.0 | 2.00 | 0.95 | - | 6.00 |"), output);
        assertTrue(!output.contains("CPU ms"), "no CPU table without CPU times: " + output);
        assertTrue(output.contains("bucketed >= per-tensor at every count: met; bucketed >= 0.9 x raw loopback TCP: met; "
                + "bucketed >= 5x faster than gloo flattened: met"), output);
        assertTrue(!output.contains("99"), "the older run is not printed: " + output);
    }

    private static JmhResult sync(String method, double ms, double cpuMs, int tensors, int receivers) {
        return new JmhResult(RUN, "HostSyncBenchmark", method, Map.of("tensors", String.valueOf(tensors), "receivers",
                String.valueOf(receivers), "modelMiB", "64", "bucketMiB", "16"), ms / 1e3, Double.NaN, cpuMs / 1e3);
    }

    private static JmhResult gloo(String method, double ms, int tensors, int receivers) {
        return new JmhResult(RUN, "GlooSync", method, Map.of("tensors", String.valueOf(tensors), "receivers",
                String.valueOf(receivers), "modelMiB", "64"), ms / 1e3, Double.NaN);
    }

    private static JmhResult bucketSize(String method, double seconds, int bucketMiB) {
        return new JmhResult(RUN, "HostBucketSizeBenchmark", method, Map.of("bucketMiB", String.valueOf(bucketMiB),
                "modelMiB", "256", "receivers", "1"), seconds, Double.NaN);
    }
}
