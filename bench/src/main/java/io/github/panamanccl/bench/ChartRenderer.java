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
    static final String TIME_VS_TENSORS = "per-tensor-vs-bucketed.png";
    static final String GBPS_VS_BUCKET = "gbps-vs-bucket-size.png";
    static final String OURS_VS_PYTORCH = "ours-vs-pytorch.png";
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
                () -> out.println("skipped " + TIME_VS_TENSORS + ": no results with a 'tensors' parameter"));
        throughputAgainstBucketSize(results).ifPresentOrElse(chart -> written.add(save(chart, chartsDir.resolve(GBPS_VS_BUCKET))),
                () -> out.println("skipped " + GBPS_VS_BUCKET + ": no results with 'bucketMiB' and 'modelMiB' parameters"));
        oursAgainstPyTorch(results, PyTorchResult.readAll(resultsDir)).ifPresentOrElse(
                chart -> written.add(save(chart, chartsDir.resolve(OURS_VS_PYTORCH))),
                () -> out.println("skipped " + OURS_VS_PYTORCH + ": no GPU results of both GpuBroadcastBenchmark and the PyTorch peer"));
        written.forEach(path -> out.println("wrote " + path));
        Ratios.print(results, out);
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

    /** Sync time against tensor count: every benchmark with a 'tensors' parameter, one series per method. */
    static Optional<JFreeChart> timeAgainstTensorCount(List<JmhResult> results) {
        Drawn drawn = series(results, "tensors", result -> result.secondsPerOp() * 1e3);
        XYSeriesCollection dataset = drawn.dataset();
        if (dataset.getSeriesCount() == 0) {
            return Optional.empty();
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Weight sync of one model: per-tensor vs bucketed",
                "tensors in the model (same total bytes)", "milliseconds per sync", dataset, PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(true);
        ((NumberAxis) plot.getDomainAxis()).setAutoRangeIncludesZero(true);
        style(chart);
        addSources(chart, drawn.files().stream());
        return Optional.of(chart);
    }

    /** GB/s against bucket size: every benchmark with 'bucketMiB' and 'modelMiB' parameters, one series per method. */
    static Optional<JFreeChart> throughputAgainstBucketSize(List<JmhResult> results) {
        Drawn drawn = series(results.stream().filter(result -> result.params().containsKey("modelMiB")).toList(),
                "bucketMiB", result -> result.param("modelMiB").orElseThrow() * (1 << 20) / result.secondsPerOp() / 1e9);
        XYSeriesCollection dataset = drawn.dataset();
        if (dataset.getSeriesCount() == 0) {
            return Optional.empty();
        }
        JFreeChart chart = ChartFactory.createXYLineChart("Bucketed sync throughput against bucket size",
                "bucket size, MiB (log)", "GB/s", dataset, PlotOrientation.VERTICAL, true, false, false);
        XYPlot plot = chart.getXYPlot();
        LogAxis bucketAxis = logAxis("bucket size, MiB (log)");
        bucketAxis.setBase(2);
        bucketAxis.setTickUnit(new NumberTickUnit(1));
        bucketAxis.setNumberFormatOverride(new DecimalFormat("0.##"));
        plot.setDomainAxis(bucketAxis);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(true);
        style(chart);
        addSources(chart, drawn.files().stream());
        return Optional.of(chart);
    }

    /** Seconds per sync of the same model on GPU: our per-tensor / grouped / bucketed NCCL paths and PyTorch's. */
    static Optional<JFreeChart> oursAgainstPyTorch(List<JmhResult> results, List<PyTorchResult> pytorch) {
        List<JmhResult> ours = results.stream().filter(result -> result.className().equals("GpuBroadcastBenchmark")).toList();
        if (ours.isEmpty() || pytorch.isEmpty()) {
            return Optional.empty();
        }
        DefaultCategoryDataset dataset = new DefaultCategoryDataset();
        for (JmhResult result : ours) {
            dataset.addValue(result.secondsPerOp() * 1e3, "panama-nccl " + result.method(),
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

    /** The series of a chart and the result files their points come from. */
    private record Drawn(XYSeriesCollection dataset, List<Path> files) {
    }

    /**
     * One series per benchmark method and setting of the other parameters, x = parameter {@code axis}; a series
     * with a single point (a benchmark run at one value of the axis only) is no trend and is left out.
     */
    private static Drawn series(List<JmhResult> results, String axis, ToDoubleFunction<JmhResult> y) {
        Map<String, List<JmhResult>> byName = new LinkedHashMap<>();
        results.stream().filter(result -> result.params().containsKey(axis))
                .sorted(Comparator.comparing(JmhResult::name))
                .forEach(result -> byName.computeIfAbsent(seriesName(result, axis), name -> new ArrayList<>()).add(result));
        XYSeriesCollection dataset = new XYSeriesCollection();
        List<Path> files = new ArrayList<>();
        byName.forEach((name, points) -> {
            if (points.size() > 1) {
                XYSeries series = new XYSeries(name, true, false);
                points.forEach(point -> series.add(point.param(axis).orElseThrow().doubleValue(), y.applyAsDouble(point)));
                dataset.addSeries(series);
                points.forEach(point -> files.add(point.file()));
            }
        });
        return new Drawn(dataset, files);
    }

    /** Class and method, plus every parameter but the axis (e.g. the model size). */
    private static String seriesName(JmhResult result, String axis) {
        Map<String, String> others = new LinkedHashMap<>(result.params());
        others.remove(axis);
        String suffix = others.isEmpty() ? "" : " (" + label(others) + ")";
        return result.className().replace("Benchmark", "") + "." + result.method() + suffix;
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

    private static void style(JFreeChart chart) {
        chart.getTitle().setFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer(true, true);
        for (int series = 0; series < plot.getDataset().getSeriesCount(); series++) {
            renderer.setSeriesStroke(series, new BasicStroke(2.5f));
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
