package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import javax.imageio.ImageIO;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The renderer draws a chart only from results that exist, skips the others with a note, and prints the ratios. */
class ChartRendererTest {
    @TempDir
    Path directory;

    @Test
    void drawsTheHostChartsAndSkipsThePyTorchChartWithoutGpuResults() throws IOException {
        Path results = Files.createDirectories(directory.resolve("results"));
        Files.writeString(results.resolve("2026-01-01-host.json"), JmhJson.array(
                JmhJson.score("HostSyncBenchmark.perTensor", "ms/op", 40, "tensors", "1000", "modelMiB", "64"),
                JmhJson.score("HostSyncBenchmark.perTensor", "ms/op", 400, "tensors", "18867", "modelMiB", "64"),
                JmhJson.score("HostSyncBenchmark.bucketed", "ms/op", 50, "tensors", "1000", "modelMiB", "64"),
                JmhJson.score("HostSyncBenchmark.bucketed", "ms/op", 55, "tensors", "18867", "modelMiB", "64"),
                JmhJson.score("HostBucketSizeBenchmark.bucketed", "ms/op", 300, "bucketMiB", "1", "modelMiB", "256"),
                JmhJson.score("HostBucketSizeBenchmark.bucketed", "ms/op", 200, "bucketMiB", "16", "modelMiB", "256")));
        Path charts = directory.resolve("charts");
        ByteArrayOutputStream printed = new ByteArrayOutputStream();

        List<Path> written = ChartRenderer.renderAll(results, charts, new PrintStream(printed, true, StandardCharsets.UTF_8));

        assertEquals(List.of(charts.resolve(ChartRenderer.TIME_VS_TENSORS), charts.resolve(ChartRenderer.GBPS_VS_BUCKET)),
                written);
        for (Path chart : written) {
            BufferedImage image = ImageIO.read(chart.toFile());
            assertNotNull(image, chart + " is a readable PNG");
            assertTrue(image.getWidth() >= 800 && image.getHeight() >= 500, chart + " size");
        }
        String output = printed.toString(StandardCharsets.UTF_8);
        assertTrue(output.contains("skipped " + ChartRenderer.OURS_VS_PYTORCH), output);
        assertTrue(output.contains(
                "| bucketed speed-up over per-tensor, host transport (per-tensor time / bucketed) | {modelMiB=64, tensors=18867} | 7.27 |"),
                output);
    }

    @Test
    void drawsOursAgainstPyTorchFromGpuResultFiles() throws IOException {
        Path gpu = Files.createDirectories(directory.resolve("results").resolve("2026-01-02-gpu"));
        Files.writeString(gpu.resolve("jmh-gpu.json"), JmhJson.array(
                JmhJson.score("GpuBroadcastBenchmark.perTensor", "ms/op", 120, "inventory", "qwen3-30b-a3b"),
                JmhJson.score("GpuBroadcastBenchmark.bucketed", "ms/op", 9, "inventory", "qwen3-30b-a3b")));
        Files.writeString(gpu.resolve("torch-peer-qwen3-30b-a3b.json"), """
                {"inventory": "qwen3-30b-a3b", "bytes": 17179869184, "methods": {
                  "per_tensor_broadcast": {"seconds_median": 0.25},
                  "flat_uint8_broadcast": {"seconds_median": 0.04},
                  "d2d_copy": {"seconds_median": 0.007}}}
                """);

        List<Path> written = ChartRenderer.renderAll(directory.resolve("results"), directory.resolve("charts"),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));

        assertEquals(List.of(directory.resolve("charts").resolve(ChartRenderer.OURS_VS_PYTORCH)), written);
        assertNotNull(ImageIO.read(written.getFirst().toFile()));
        assertEquals(3, PyTorchResult.readAll(directory.resolve("results")).size());
    }

    @Test
    void newerResultFilesReplaceOlderScoresOfTheSameBenchmark() throws IOException {
        Files.writeString(directory.resolve("2026-01-01-a.json"), JmhJson.array(
                JmhJson.score("DowncallBenchmark.cLoop", "ns/op", 9, "x", "1"),
                JmhJson.score("DowncallBenchmark.ffmGenerated", "ns/op", 20, "x", "1")));
        Files.writeString(directory.resolve("2026-02-01-b.json"), JmhJson.array(
                JmhJson.score("DowncallBenchmark.cLoop", "us/op", 0.008, "x", "1")));
        Files.writeString(directory.resolve("2026-02-01-b.meta.json"), "{\"date\": \"2026-02-01T10:00:00Z\"}");
        // Named to sort first, but its metadata says it ran last: the run date wins over the name.
        Files.writeString(directory.resolve("0-late.json"), JmhJson.array(
                JmhJson.score("DowncallBenchmark.ffmGenerated", "ns/op", 30, "x", "1")));
        Files.writeString(directory.resolve("0-late.meta.json"), "{\"date\": \"2026-03-01T10:00:00Z\"}");

        List<JmhResult> newest = ChartRenderer.newestPerBenchmark(directory);

        assertEquals(2, newest.size());
        JmhResult cLoop = newest.stream().filter(r -> r.method().equals("cLoop")).findFirst().orElseThrow();
        assertEquals(8e-9, cLoop.secondsPerOp(), 1e-15);
        assertTrue(cLoop.file().endsWith("2026-02-01-b.json"));
        JmhResult ffm = newest.stream().filter(r -> r.method().equals("ffmGenerated")).findFirst().orElseThrow();
        assertEquals(30e-9, ffm.secondsPerOp(), 1e-15);
        // The two scores now come from different runs, so no ratio is formed from them.
        assertFalse(Ratios.compute(newest).stream().anyMatch(r -> r.numerator().equals("ffmGenerated")));
    }
}
