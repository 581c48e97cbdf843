package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.github.panamanccl.cli.ModelInventories;

/**
 * The GPU performance call's report (bench/gpu/run.sh performance, last step) on result files shaped like the real
 * ones: JMH files of one class each merged into the one file the device tool brings back, and every ratio of issue 11
 * with its target computed from those scores and the PyTorch peer's.
 */
class GpuReportTest {
    private static final String THIRTY = "qwen3-30b-a3b";
    private static final String NEXT = "qwen3-next-80b-a3b";

    @TempDir
    Path directory;

    @Test
    void theClassFilesAreMergedWithTheirMetadataAndEveryRatioComesOutWithItsTarget() throws IOException {
        Path classes = Files.createDirectories(directory.resolve("classes"));
        Path out = Files.createDirectories(directory.resolve("out"));
        Files.writeString(classes.resolve("jmh-GpuBroadcastBenchmark.json"), JmhJson.array(
                gpu("GpuBroadcastBenchmark.bucketed", 100, NEXT), gpu("GpuBroadcastBenchmark.perTensor", 2500, NEXT),
                gpu("GpuBroadcastBenchmark.grouped", 150, NEXT),
                gpu("GpuBroadcastBenchmark.deviceToDeviceMemcpy", 80, NEXT),
                gpu("GpuBroadcastBenchmark.bucketed", 50, THIRTY), gpu("GpuBroadcastBenchmark.perTensor", 400, THIRTY)));
        Files.writeString(classes.resolve("jmh-GpuBroadcastBenchmark.meta.json"), "{\"date\": \"2026-12-02T10:00:00Z\"}");
        Files.writeString(classes.resolve("jmh-GpuPackBenchmark.json"), JmhJson.array(
                gpu("GpuPackBenchmark.batchedMemcpy", 40, THIRTY), gpu("GpuPackBenchmark.perTensorMemcpyAsync", 120, THIRTY)));
        Files.writeString(classes.resolve("jmh-GpuTwoRankSyncBenchmark.json"), JmhJson.array(
                gpu("GpuTwoRankSyncBenchmark.publish", 200, NEXT)));
        Files.writeString(classes.resolve("jmh-GpuZeroCopyBenchmark.json"), JmhJson.array(
                gpu("GpuZeroCopyBenchmark.transferOnly", 30, THIRTY)));
        Files.writeString(classes.resolve("jmh-GpuZeroCopySyncBenchmark.json"), JmhJson.array(
                gpu("GpuZeroCopySyncBenchmark.zeroCopyInPlace", 105, THIRTY),
                gpu("GpuZeroCopySyncBenchmark.zeroCopyFlip", 125, THIRTY),
                gpu("GpuZeroCopySyncBenchmark.packScatter", 210, THIRTY),
                gpu("GpuZeroCopySyncBenchmark.broadcastAlone", 100, THIRTY)));
        long nextBytes = ModelInventories.load(NEXT).scaledToFit(16384L << 20).totalBytes();
        torchPeer(out, NEXT, nextBytes, Map.of("per_tensor_broadcast", 1.5, "flat_uint8_broadcast", 0.09));
        torchPeer(out, THIRTY, 12345, Map.of("per_tensor_broadcast", 0.4));

        String printed = run(classes.toString(), out.toString());

        List<JmhResult> merged = JmhResult.read(out.resolve("jmh-gpu.json"));
        assertEquals(14, merged.size(), "every score of every class file, another engineer's class too");
        JsonNode meta = new ObjectMapper().readTree(out.resolve("jmh-gpu.meta.json").toFile());
        assertEquals("2026-12-02T10:00:00Z", meta.path("date").asText(), "the run's date travels with the merged file");
        assertEquals(5, meta.path("mergedFrom").size());
        assertTrue(printed.contains("| GpuZeroCopyBenchmark.transferOnly | {bucketMiB=1024, inventory=qwen3-30b-a3b,"
                + " modelMiB=16384} | 30.000 |"), printed);

        Map<String, GpuReport.Row> rows = GpuReport.rows(merged, PyTorchResult.readAll(out)).stream()
                .collect(Collectors.toMap(row -> row.ratio().substring(0, row.ratio().indexOf(" (")) + "|"
                        + row.inventory(), Function.identity()));
        assertRow(rows, "bucketed sync vs one cudaMemcpy D2D of the same bytes|" + NEXT, 0.8, ">= 0.9", "NOT met");
        assertRow(rows, "bucketed vs per-tensor ncclBroadcast|" + NEXT, 25.0, ">= 20", "met");
        assertRow(rows, "bucketed vs per-tensor ncclBroadcast|" + THIRTY, 8.0, "", "-");
        assertRow(rows, "bucketed vs per-tensor in one ncclGroupStart/End|" + NEXT, 1.5, ">= 1.0", "met");
        assertRow(rows, "ours vs PyTorch per-tensor dist.broadcast|" + NEXT, 15.0, ">= 1.0", "met");
        assertRow(rows, "ours vs SGLang-style flatten + 1 broadcast + views|" + NEXT, 0.9, ">= 1.0", "NOT met");
        assertRow(rows, "pack: 1 cudaMemcpyBatchAsync per bucket vs 1 cudaMemcpyAsync per tensor|" + THIRTY, 3.0, "", "-");
        assertRow(rows, "two ranks on one GPU vs one rank, bucketed|" + NEXT, 0.5, "", "-");
        assertRow(rows, "zero-copy sync in place vs the broadcast alone|" + THIRTY, 100 / 105.0, ">= 0.9", "met");
        assertRow(rows, "zero-copy flip vs the broadcast alone|" + THIRTY, 0.8, ">= 0.9", "NOT met");
        assertRow(rows, "zero-copy vs pack and scatter, in place|" + THIRTY, 2.0, "", "-");
        assertEquals("n/a", rows.get("bucketed sync vs one cudaMemcpy D2D of the same bytes|" + THIRTY).verdict(),
                "a pair this run did not measure is not a result");
        assertEquals("n/a", rows.get("ours vs SGLang-style flatten + 1 broadcast + views|" + THIRTY).verdict());
        assertTrue(rows.get("ours vs PyTorch per-tensor dist.broadcast|" + NEXT).detail().contains("same " + nextBytes
                + " B"), "both sides moved the same bytes");
        assertTrue(rows.get("ours vs PyTorch per-tensor dist.broadcast|" + THIRTY).detail().contains("BYTES DIFFER"),
                "a comparison of different models says so");
        assertTrue(printed.contains("| bucketed vs per-tensor ncclBroadcast (per-tensor / bucketed) | " + NEXT
                + " | 25.00 | >= 20 | met | 2500.000 / 100.000 ms |"), printed);
    }

    @Test
    void aRunWithoutResultsSaysSoAndWritesNoMergedFile() throws IOException {
        Path classes = Files.createDirectories(directory.resolve("classes"));
        Path out = Files.createDirectories(directory.resolve("out"));

        String printed = run(classes.toString(), out.toString());

        assertFalse(Files.exists(out.resolve("jmh-gpu.json")));
        assertTrue(printed.startsWith("JMH result files merged into " + out.resolve("jmh-gpu.json") + ": none"), printed);
        assertEquals(List.of(), GpuReport.rows(List.of(), List.of()));
    }

    private static void assertRow(Map<String, GpuReport.Row> rows, String key, double value, String target,
                                  String verdict) {
        GpuReport.Row row = rows.get(key);
        assertEquals(value, row.value().orElseThrow(), 1e-9, key);
        assertEquals(target, row.target(), key);
        assertEquals(verdict, row.verdict(), key);
    }

    private static String gpu(String benchmark, double milliseconds, String inventory) {
        return JmhJson.score(benchmark, "ms/op", milliseconds, "inventory", inventory, "modelMiB", "16384",
                "bucketMiB", "1024");
    }

    private static void torchPeer(Path out, String inventory, long bytes, Map<String, Double> secondsByMethod)
            throws IOException {
        String methods = secondsByMethod.entrySet().stream()
                .map(e -> "\"" + e.getKey() + "\": {\"seconds_median\": " + e.getValue() + "}")
                .collect(Collectors.joining(", "));
        Files.writeString(out.resolve("torch-peer-" + inventory + ".json"), "{\"inventory\": \"" + inventory
                + "\", \"bytes\": " + bytes + ", \"methods\": {" + methods + "}}");
    }

    private static String run(String... args) {
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        GpuReport.main(List.of(args), new PrintStream(printed, true, StandardCharsets.UTF_8));
        return printed.toString(StandardCharsets.UTF_8);
    }
}
