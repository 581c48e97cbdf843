package io.github.panamanccl.bench;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.text.DecimalFormat;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;

import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.TextTitle;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * Draws the benchmark charts (PNG) from the newest results in bench/results and prints the ratios each chart
 * summarises. A chart whose results are missing is skipped with a note, never drawn empty.
 */
final class ChartRenderer {
    static final String TIME_VS_TENSORS = "host-sync-vs-tensors.png";
    static final String TIME_VS_RECEIVERS = "host-sync-vs-receivers.png";
    static final String GBPS_VS_BUCKET = "gbps-vs-bucket-size.png";
    static final String OURS_VS_PYTORCH = "ours-vs-pytorch.png";
    /** Series colours, distinct on white (no yellow). */
    private static final Color[] PALETTE = {new Color(0x1b9e77), new Color(0xd95f02), new Color(0x7570b3),
        new Color(0xe7298a), new Color(0x66a61e), new Color(0xa6761d), new Color(0x1f78b4), new Color(0x666666)};
    private static final int WIDTH = 900;
    private static final int HEIGHT = 560;

    private ChartRenderer() {
    }

    static List<Path> renderAll(Path resultsDir, Path chartsDir, PrintStream out) {
        System.setProperty("java.awt.headless", "true");
        List<JmhResult> results = newestPerBenchmark(resultsDir);
        out.println("results: " + results.size() + " scores from " + resultsDir);
        List<Path> written = new ArrayList<>();
        timeAgainstTensorCount(results).ifPresentOrElse(chart -> written.add(save(chart, chartsDir.resolve(TIME_VS_TENSORS))),
                () -> out.println("skipped " + TIME_VS_TENSORS + ": no host sync results with a 'tensors' parameter"));
        timeAgainstReceivers(results).ifPresentOrElse(chart -> written.add(save(chart, chartsDir.resolve(TIME_VS_RECEIVERS))),
                () -> out.println("skipped " + TIME_VS_RECEIVERS + ": no host sync results at several receiver counts"));
        throughputAgainstBucketSize(results).ifPresentOrElse(chart -> written.add(save(chart, chartsDir.resolve(GBPS_VS_BUCKET))),
                () -> out.println("skipped " + GBPS_VS_BUCKET + ": no results with 'bucketMiB' and 'modelMiB' parameters"));
        oursAgainstPyTorch(results, PyTorchResult.readAll(resultsDir)).ifPresentOrElse(
                chart -> written.add(save(chart, chartsDir.resolve(OURS_VS_PYTORCH))),
                () -> out.println("skipped " + OURS_VS_PYTORCH + ": no GPU results of both GpuBroadcastBenchmark and the PyTorch peer"));
        written.forEach(path -> out.println("wrote " + path));
        Ratios.print(results, out);
        HostComparisonTable.printNewest(results, out);
        return written;
    }

    /**
     * For each benchmark and parameter set, the score of the newest result file holding it (file names are
     * dated, so newer runs replace older ones, and runs of other benchmarks are kept).
     */
    static List<JmhResult> newestPerBenchmark(Path resultsDir) {
        Map<String, JmhResult> newest = new LinkedHashMap<>();
        for (Path file : JmhResult.resultFiles(resultsDir)) {
            for (JmhResult result : JmhResult.read(file)) {
                newest.put(result.name() + result.params(), result);
            }
        }
        return List.copyOf(newest.values());
    }

    /**
     * Host sync time against tensor count, one receiver: every system (panama-nccl bucketed and per-tensor, raw
     * loopback TCP, torch gloo per-tensor and flattened) of the newest comparison run, log-log.
     */
    static Optional<JFreeChart> timeAgainstTensorCount(List<JmhResult> results) {
        List<JmhResult> oneReceiver = HostComparisonTable.newestComparisonRun(results).stream()
                .filter(result -> result.params().getOrDefault("receivers", "1").equals("1")).toList();
        Drawn drawn = series(oneReceiver, "tensors", result -> result.secondsPerOp() * 1e3, ChartRenderer::systemLabel);
        if (drawn.dataset().getSeriesCount() == 0) {
            return Optional.empty();
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Host weight sync, 1 receiver: time against tensor count",
                "tensors in the model (same total bytes; log)", "milliseconds per sync (log)", drawn.dataset(),
                PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        LogAxis tensorAxis = logAxis("tensors in the model (same total bytes; log)");
        tensorAxis.setNumberFormatOverride(new DecimalFormat("#,##0"));
        plot.setDomainAxis(tensorAxis);
        LogAxis timeAxis = logAxis("milliseconds per sync (log)");
        timeAxis.setNumberFormatOverride(new DecimalFormat("#,##0.#"));
        plot.setRangeAxis(timeAxis);
        style(chart, drawn);
        addSources(chart, drawn.files().stream());
        return Optional.of(chart);
    }

    /**
     * Host sync time against receiver count in the newest comparison run: panama-nccl bucketed and raw loopback TCP,
     * one series per tensor count.
     */
    static Optional<JFreeChart> timeAgainstReceivers(List<JmhResult> results) {
        List<JmhResult> scaling = HostComparisonTable.newestComparisonRun(results).stream()
                .filter(result -> result.className().equals(HostComparisonTable.SYNC))
                .filter(result -> result.method().equals("bucketed") || result.method().equals("rawTcp")).toList();
        Drawn drawn = series(scaling, "receivers", result -> result.secondsPerOp() * 1e3,
                result -> systemLabel(result) + ", " + result.params().get("tensors") + " tensors");
        if (drawn.dataset().getSeriesCount() == 0) {
            return Optional.empty();
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Host weight sync: time against receiver count",
                "receivers (each gets the whole model)", "milliseconds per sync", drawn.dataset(), PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(true);
        NumberAxis receiverAxis = (NumberAxis) plot.getDomainAxis();
        receiverAxis.setAutoRangeIncludesZero(true);
        receiverAxis.setTickUnit(new NumberTickUnit(1));
        style(chart, drawn);
        addSources(chart, drawn.files().stream());
        return Optional.of(chart);
    }

    /**
     * GB/s against bucket size: every benchmark with 'bucketMiB' and 'modelMiB' parameters, one series per method;
     * raw loopback TCP (writes of the bucket size) drawn dashed, as the limit.
     */
    static Optional<JFreeChart> throughputAgainstBucketSize(List<JmhResult> results) {
        Drawn drawn = series(results.stream().filter(result -> result.params().containsKey("modelMiB"))
                        .filter(result -> !HostComparisonTable.isHostSync(result)).toList(),
                "bucketMiB", result -> result.param("modelMiB").orElseThrow() * (1 << 20) / result.secondsPerOp() / 1e9,
                ChartRenderer::systemLabel);
        if (drawn.dataset().getSeriesCount() == 0) {
            return Optional.empty();
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Bucketed sync throughput against bucket size",
                "bucket size, MiB (log)", "GB/s", drawn.dataset(), PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        LogAxis bucketAxis = logAxis("bucket size, MiB (log)");
        bucketAxis.setBase(2);
        bucketAxis.setTickUnit(new NumberTickUnit(1));
        bucketAxis.setNumberFormatOverride(new DecimalFormat("0.##"));
        plot.setDomainAxis(bucketAxis);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(true);
        style(chart, drawn);
        addSources(chart, drawn.files().stream());
        return Optional.of(chart);
    }

    /**
     * Seconds per sync of the same model on GPU: our per-tensor / grouped / bucketed NCCL paths (and the device copy
     * of the same bytes, and the two-rank sync where measured) and PyTorch's.
     */
    static Optional<JFreeChart> oursAgainstPyTorch(List<JmhResult> results, List<PyTorchResult> pytorch) {
        List<JmhResult> ours = results.stream().filter(result -> result.className().equals("GpuBroadcastBenchmark")
                || result.className().equals("GpuTwoRankSyncBenchmark")).toList();
        if (ours.isEmpty() || pytorch.isEmpty()) {
            return Optional.empty();
        }
        DefaultCategoryDataset dataset = new DefaultCategoryDataset();
        for (JmhResult result : ours) {
            String method = result.className().equals("GpuTwoRankSyncBenchmark") ? "two-rank sync" : result.method();
            dataset.addValue(result.secondsPerOp() * 1e3, "panama-nccl " + method,
                    result.params().getOrDefault("inventory", "model"));
        }
        for (PyTorchResult result : pytorch) {
            dataset.addValue(result.secondsPerSync() * 1e3, "PyTorch " + result.method(), result.inventory());
        }
        JFreeChart chart = ChartFactory.createBarChart("GPU weight sync, one H200: panama-nccl vs PyTorch", "inventory",
                "milliseconds per sync of the whole model (log)", dataset, PlotOrientation.VERTICAL, true, false, false);
        CategoryPlot plot = chart.getCategoryPlot();
        LogAxis timeAxis = logAxis("milliseconds per sync of the whole model (log)");
        timeAxis.setNumberFormatOverride(new DecimalFormat("0.###"));
        plot.setRangeAxis(timeAxis);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        addSources(chart, Stream.concat(ours.stream().map(JmhResult::file),
                pytorch.stream().map(PyTorchResult::file)));
        return Optional.of(chart);
    }

    /** The series of a chart, the result files their points come from, and which series are the loopback limit. */
    private record Drawn(XYSeriesCollection dataset, List<Path> files, List<Integer> limits) {
    }

    /**
     * One series per label (by default class, method and every parameter but the axis), x = parameter {@code axis};
     * a series with a single point (a benchmark run at one value of the axis only) is no trend and is left out.
     */
    private static Drawn series(List<JmhResult> results, String axis, ToDoubleFunction<JmhResult> y,
                                Function<JmhResult, String> label) {
        Map<String, List<JmhResult>> byName = new LinkedHashMap<>();
        results.stream().filter(result -> result.params().containsKey(axis))
                .sorted(Comparator.comparing(JmhResult::name))
                .forEach(result -> byName.computeIfAbsent(label.apply(result) + otherParams(result, axis),
                        name -> new ArrayList<>()).add(result));
        XYSeriesCollection dataset = new XYSeriesCollection();
        List<Path> files = new ArrayList<>();
        List<Integer> limits = new ArrayList<>();
        byName.forEach((name, points) -> {
            if (points.size() > 1) {
                XYSeries series = new XYSeries(name, true, false);
                points.forEach(point -> series.add(point.param(axis).orElseThrow().doubleValue(), y.applyAsDouble(point)));
                if (points.getFirst().method().equals("rawTcp")) {
                    limits.add(dataset.getSeriesCount());
                }
                dataset.addSeries(series);
                points.forEach(point -> files.add(point.file()));
            }
        });
        return new Drawn(dataset, files, limits);
    }

    /** What a series of the host benchmarks is, in words; other benchmarks by class and method. */
    static String systemLabel(JmhResult result) {
        return switch (result.className() + "." + result.method()) {
            case "HostSyncBenchmark.bucketed", "HostBucketSizeBenchmark.bucketed" -> "panama-nccl bucketed"
                    + (result.params().containsKey("tensors") ? " (" + result.params().get("bucketMiB") + " MiB buckets)" : "");
            case "HostSyncBenchmark.perTensor" -> "panama-nccl per-tensor";
            case "HostSyncBenchmark.rawTcp" -> "raw loopback TCP of the same bytes (the limit)";
            case "HostBucketSizeBenchmark.rawTcp" -> "raw loopback TCP, one write per bucket size (the limit)";
            case "GlooSync.perTensor" -> "torch gloo per-tensor broadcast";
            case "GlooSync.flattened" -> "torch gloo flattened + 1 broadcast (SGLang-style)";
            default -> result.className().replace("Benchmark", "") + "." + result.method();
        };
    }

    /**
     * Parameters that still tell a series apart: none for the host sync charts (drawn from one run, whose model and
     * bucket size are fixed), every one but the axis otherwise.
     */
    private static String otherParams(JmhResult result, String axis) {
        if (HostComparisonTable.isHostSync(result)) {
            return "";
        }
        Map<String, String> others = new LinkedHashMap<>(result.params());
        others.remove(axis);
        return others.isEmpty() ? "" : " (" + label(others) + ")";
    }

    private static String label(Map<String, String> params) {
        return params.entrySet().stream().sorted(Map.Entry.comparingByKey())
                .map(entry -> entry.getKey() + "=" + entry.getValue())
                .reduce((a, b) -> a + ", " + b).orElse("default");
    }

    private static LogAxis logAxis(String label) {
        LogAxis axis = new LogAxis(label);
        axis.setSmallestValue(1e-3);
        return axis;
    }

    private static void style(JFreeChart chart, Drawn drawn) {
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int series = 0; series < plot.getDataset().getSeriesCount(); series++) {
            renderer.setSeriesPaint(series, PALETTE[series % PALETTE.length]);
            renderer.setSeriesStroke(series, drawn.limits().contains(series)
                    ? new BasicStroke(2.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {10f, 6f}, 0f)
                    : new BasicStroke(2.5f));
        }
        plot.setRenderer(renderer);
    }

    /** Subtitle naming the result files drawn and, where a .meta.json sits next to one, its machine and JDK. */
    private static void addSources(JFreeChart chart, Stream<Path> files) {
        String sources = files.distinct().sorted().map(ChartRenderer::describe)
                .reduce((a, b) -> a + "; " + b).orElse("");
        chart.addSubtitle(new TextTitle(sources, new Font(Font.SANS_SERIF, Font.PLAIN, 12)));
    }

    private static String describe(Path resultFile) {
        Path metadata = RunMetadata.metadataPathFor(resultFile);
        String name = resultFile.getParent() == null ? resultFile.getFileName().toString()
                : resultFile.getParent().getFileName() + "/" + resultFile.getFileName();
        if (!Files.isRegularFile(metadata)) {
            return name;
        }
        var meta = RunMetadata.read(metadata);
        return name + " (" + meta.path("machine").path("cpuModel").asText("?") + ", "
                + meta.path("machine").path("logicalCpus").asText("?") + " CPUs, JDK "
                + meta.path("jdk").path("version").asText("?") + ")";
    }

    private static Path save(JFreeChart chart, Path file) {
        try {
            Files.createDirectories(file.getParent());
            ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write chart " + file, e);
        }
    }
}
