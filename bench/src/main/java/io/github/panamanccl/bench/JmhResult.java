package io.github.panamanccl.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One benchmark score from a JMH JSON result file, with the file it came from.
 *
 * @param file        the JMH result file
 * @param className   simple name of the benchmark class, e.g. HostSyncBenchmark
 * @param method      benchmark method, e.g. bucketed
 * @param params      JMH parameters of this score
 * @param secondsPerOp score as seconds per operation (throughput scores are inverted)
 * @param errorSeconds the 99.9% error of the score in the same unit, NaN when unknown
 * @param cpuSecondsPerOp CPU time of every thread of the run per operation (JMH's perfnorm profiler with the
 *                     {@code task-clock} event, or the gloo peer's own count of its processes), NaN when not measured
 */
record JmhResult(Path file, String className, String method, Map<String, String> params,
                 double secondsPerOp, double errorSeconds, double cpuSecondsPerOp) {
    /** The secondary metric that carries CPU time per operation, in milliseconds (perf's unit for it). */
    static final String CPU_METRIC = "task-clock";
    private static final ObjectMapper JSON = new ObjectMapper();

    JmhResult(Path file, String className, String method, Map<String, String> params, double secondsPerOp,
              double errorSeconds) {
        this(file, className, method, params, secondsPerOp, errorSeconds, Double.NaN);
    }

    String name() {
        return className + "." + method;
    }

    Optional<Double> param(String key) {
        return Optional.ofNullable(params.get(key)).map(Double::parseDouble);
    }

    /**
     * JMH result files under a directory, any depth (every JMH-shaped *.json), oldest first: by the run date in
     * the .meta.json next to a file when there is one (files without one first), then by path.
     */
    static List<Path> resultFiles(Path directory) {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(directory)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".json"))
                    .filter(file -> !file.getFileName().toString().endsWith(".meta.json"))
                    .filter(JmhResult::looksLikeJmh)
                    .sorted(Comparator.comparing(JmhResult::runDate).thenComparing(Path::toString))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + directory, e);
        }
    }

    static List<JmhResult> read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read JMH results " + file, e);
        }
        List<JmhResult> results = new ArrayList<>();
        for (JsonNode entry : root) {
            String benchmark = entry.path("benchmark").asText();
            int methodDot = benchmark.lastIndexOf('.');
            int classDot = benchmark.lastIndexOf('.', methodDot - 1);
            Map<String, String> params = new LinkedHashMap<>();
            entry.path("params").properties().forEach(field -> params.put(field.getKey(), field.getValue().asText()));
            JsonNode metric = entry.path("primaryMetric");
            double toSeconds = secondsPerUnit(metric.path("scoreUnit").asText(), file);
            double score = metric.path("score").asDouble();
            double error = metric.path("scoreError").asDouble(Double.NaN);
            boolean throughput = metric.path("scoreUnit").asText().startsWith("ops/");
            JsonNode cpuMs = entry.path("secondaryMetrics").path(CPU_METRIC).path("score");
            results.add(new JmhResult(file, benchmark.substring(classDot + 1, methodDot), benchmark.substring(methodDot + 1),
                    Map.copyOf(params),
                    throughput ? 1 / (score * toSeconds) : score * toSeconds,
                    throughput ? error / (score * score * toSeconds) : error * toSeconds,
                    cpuMs.isNumber() && !throughput ? cpuMs.asDouble() * 1e-3 : Double.NaN));
        }
        return results;
    }

    /** ISO-8601 date of the run from the file's metadata; empty when there is none. */
    static String runDate(Path file) {
        Path metadata = RunMetadata.metadataPathFor(file);
        return Files.isRegularFile(metadata) ? RunMetadata.read(metadata).path("date").asText("") : "";
    }

    private static boolean looksLikeJmh(Path file) {
        try {
            JsonNode root = JSON.readTree(file.toFile());
            return root.isArray() && !root.isEmpty() && root.get(0).has("benchmark") && root.get(0).has("primaryMetric");
        } catch (IOException e) {
            return false;
        }
    }

    /** Seconds in the time unit of a JMH score unit such as "ns/op" or "ops/ms". */
    private static double secondsPerUnit(String scoreUnit, Path file) {
        String unit = scoreUnit.startsWith("ops/") ? scoreUnit.substring(4) : scoreUnit.replace("/op", "");
        return switch (unit) {
            case "ns" -> 1e-9;
            case "us" -> 1e-6;
            case "ms" -> 1e-3;
            case "s" -> 1;
            case "min" -> 60;
            default -> throw new IllegalArgumentException("unsupported JMH score unit '" + scoreUnit + "' in " + file);
        };
    }
}
