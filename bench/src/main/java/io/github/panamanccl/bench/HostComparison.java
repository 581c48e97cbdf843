package io.github.panamanccl.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;

import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * The host transport against its peers and its limit, side by side in one run ({@code bench/host/compare.sh}, i.e.
 * {@code BenchMain host-compare [--quick] [--label NAME] [--python PATH] [--results DIR]}): the JMH benchmarks
 * {@link HostSyncBenchmark} (panama-nccl bucketed and per-tensor, raw loopback TCP, against tensor count and receiver
 * count) and {@link HostBucketSizeBenchmark} (GB/s against bucket size, with the limit), interleaved with the torch
 * gloo peer (bench/host/gloo_peer.py) on the very tensors the Java side syncs (written out as inventory files), in
 * the order of {@link HostComparisonPlan}. Everything lands in one result file, {@code <date>-host-compare-<label>.json},
 * with its {@code .meta.json} (machine, load average before and after each step, the plan, what was skipped and
 * why); then the charts are redrawn and the comparison tables printed.
 */
final class HostComparison {
    static final String COMMAND = "host-compare";
    private static final Path GLOO_PEER = Path.of("bench/host/gloo_peer.py");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Duration JMH_LOCK_WAIT = Duration.ofMinutes(10);
    private static final Duration JMH_LOCK_POLL = Duration.ofSeconds(15);

    private HostComparison() {
    }

    /** The command line: which plan, how to name the result, where the peer's python is. */
    record Settings(boolean quick, String label, String python, Path results) {
        static Settings parse(List<String> args, ZonedDateTime now) {
            boolean quick = false;
            String label = null;
            String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
            Path results = Path.of("bench/results");
            for (int i = 0; i < args.size(); i++) {
                String arg = args.get(i);
                switch (arg) {
                    case "--quick" -> quick = true;
                    case "--label", "--python", "--results" -> {
                        if (i + 1 >= args.size()) {
                            throw new IllegalArgumentException(arg + " needs a value");
                        }
                        String value = args.get(++i);
                        switch (arg) {
                            case "--label" -> label = checkLabel(value);
                            case "--python" -> python = value;
                            default -> results = Path.of(value);
                        }
                    }
                    default -> throw new IllegalArgumentException("unknown option '" + arg + "'; usage: " + COMMAND
                            + " [--quick] [--label NAME] [--python PATH] [--results DIR]");
                }
            }
            if (label == null) {
                label = (quick ? "quick-" : "") + now.withZoneSameInstant(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("HHmm"));
            }
            return new Settings(quick, label, python, results);
        }

        private static String checkLabel(String label) {
            if (!label.matches("[A-Za-z0-9._-]{1,40}")) {
                throw new IllegalArgumentException("--label '" + label + "': use 1 to 40 letters, digits, '.', '_' or '-'");
            }
            return label;
        }

        Path resultFile(ZonedDateTime now) {
            return results.resolve(now.withZoneSameInstant(ZoneOffset.UTC).format(DateTimeFormatter.ISO_LOCAL_DATE)
                    + "-host-compare-" + label + ".json");
        }
    }

    static void main(List<String> args, PrintStream out) throws IOException, RunnerException, InterruptedException {
        ZonedDateTime started = ZonedDateTime.now();
        Settings settings = Settings.parse(args, started);
        HostComparisonPlan.Plan plan = HostComparisonPlan.of(settings.quick());
        Path resultFile = settings.resultFile(started);
        Files.createDirectories(settings.results());
        out.printf("host comparison (%s): %d JMH trials, %d gloo peer runs, about %d min at most; result %s%n",
                settings.quick() ? "quick" : "full", plan.jmh().stream().mapToInt(HostComparisonPlan.JmhPart::trials).sum(), plan.gloo().size(),
                plan.estimate().toMinutes() + 1, resultFile);
        Map<String, Object> phases = new LinkedHashMap<>();
        Map<String, Object> load = new LinkedHashMap<>();
        load.put("start", loadAverage());
        out.println("load average at the start: " + load.get("start") + " on " + Runtime.getRuntime().availableProcessors()
                + " CPUs (recorded before and after every part in the .meta.json; a busy machine makes every score noisy)");
        ArrayNode merged = JSON.createArrayNode();
        Optional<String> noCpuTime = whyNoCpuTime();
        out.println(noCpuTime.map(why -> "CPU time per sync not measured: " + why)
                .orElse("CPU time per sync: perf stat's task-clock (JMH perfnorm profiler)"));
        Path work = Files.createTempDirectory("host-compare-");
        try {
            GlooPeer peer = new GlooPeer(settings.python(), GLOO_PEER, out);
            Map<Integer, Path> inventories = writeInventories(plan.glooTensorCounts(), HostComparisonPlan.MODEL_MIB, work);
            List<String> glooOutcomes = new ArrayList<>();
            for (HostComparisonPlan.Part step : plan.steps()) {
                long stepStart = System.nanoTime();
                Path stepFile = work.resolve(step.name() + ".json");
                Map<String, Object> phase = new LinkedHashMap<>();
                switch (step) {
                    case HostComparisonPlan.JmhPart part -> runJmh(part, plan.iterations(), noCpuTime.isEmpty(), stepFile, out);
                    case HostComparisonPlan.GlooPart part -> {
                        String outcome = peer.run(part.tensors().stream().map(inventories::get).toList(), part,
                                HostComparisonPlan.MODEL_MIB, stepFile);
                        glooOutcomes.add(part.receivers() + " receivers: " + outcome);
                        phase.put("outcome", outcome);
                    }
                }
                addAll(merged, stepFile);
                phase.put("seconds", seconds(stepStart));
                phase.put("loadAverageAfter", loadAverage());
                phases.put(step.name(), phase);
            }
            JSON.writeValue(resultFile.toFile(), merged);
            load.put("end", loadAverage());
            RunMetadata.collect(prefixed(args))
                    .with("loadAverage", load)
                    .with("phases", phases)
                    .with("plan", describe(plan))
                    .with("glooPeer", glooOutcomes)
                    .with("cpuTime", noCpuTime.map(why -> "not measured: " + why).orElse("perf stat task-clock, per operation"))
                    .with("durationSeconds", seconds(started))
                    .write(RunMetadata.metadataPathFor(resultFile));
        } finally {
            deleteTree(work);
        }
        out.println("wrote " + resultFile + " (" + merged.size() + " scores) in " + Math.round(seconds(started)) + " s");
        ChartRenderer.renderAll(settings.results(), settings.results().resolve("charts"), out); // prints this run's tables
    }

    private static void runJmh(HostComparisonPlan.JmhPart part, HostComparisonPlan.Iterations iterations, boolean cpuTime, Path resultFile, PrintStream out)
            throws RunnerException, InterruptedException {
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include(part.include())
                .forks(1)
                .warmupIterations(iterations.warmups())
                .warmupTime(TimeValue.milliseconds(iterations.warmupTime().toMillis()))
                .measurementIterations(iterations.measurements())
                .measurementTime(TimeValue.milliseconds(iterations.measurementTime().toMillis()))
                .timeout(TimeValue.seconds(HostSyncBenchmark.DEADLINE.toSeconds() * 2))
                .resultFormat(ResultFormatType.JSON)
                .result(resultFile.toString());
        part.params().forEach((name, values) -> options.param(name, values.toArray(String[]::new)));
        if (cpuTime) {
            options.addProfiler("perfnorm", "events=" + JmhResult.CPU_METRIC);
        }
        long giveUp = System.nanoTime() + JMH_LOCK_WAIT.toNanos();
        while (true) {
            try {
                new Runner(options.build()).run();
                return;
            } catch (RunnerException e) {
                // Another JMH run on this machine (another worktree's benchmarks) holds /tmp/jmh.lock: running beside
                // it would measure both, so wait for it, within bounds.
                boolean locked = String.valueOf(e.getMessage()).contains("JMH lock");
                if (!locked || System.nanoTime() - giveUp > 0) {
                    throw e;
                }
                out.println("another JMH run holds /tmp/jmh.lock; waiting for it (at most " + JMH_LOCK_WAIT.toMinutes()
                        + " min in all)");
                Thread.sleep(JMH_LOCK_POLL.toMillis());
            }
        }
    }

    /**
     * The models of {@link HostSyncBenchmark} as inventory files (name, dtype, shape), so the gloo peer moves exactly
     * the tensors the Java side moves.
     */
    static Map<Integer, Path> writeInventories(List<Integer> tensorCounts, int modelMiB, Path directory) throws IOException {
        Map<Integer, Path> files = new LinkedHashMap<>();
        for (int count : tensorCounts) {
            Inventory model = BenchModels.hostModel(count, (long) modelMiB << 20);
            Path file = directory.resolve("host-model-" + count + ".tsv");
            Files.writeString(file, inventoryText(model), StandardCharsets.UTF_8);
            files.put(count, file);
        }
        return files;
    }

    static String inventoryText(Inventory inventory) {
        StringBuilder text = new StringBuilder("# ").append(inventory.source()).append('\n').append("name\tdtype\tshape\n");
        for (TensorSpec tensor : inventory.tensors()) {
            text.append(tensor.name()).append('\t').append(tensor.dtype().torchName()).append('\t')
                    .append(Arrays.stream(tensor.shape()).mapToObj(String::valueOf).collect(Collectors.joining(",")))
                    .append('\n');
        }
        return text.toString();
    }

    private static Map<String, Object> describe(HostComparisonPlan.Plan plan) {
        Map<String, Object> described = new LinkedHashMap<>();
        described.put("iterations", plan.iterations().toString());
        described.put("jmh", plan.jmh().stream().map(Object::toString).toList());
        described.put("gloo", plan.gloo().stream().map(Object::toString).toList());
        return described;
    }

    private static List<String> prefixed(List<String> args) {
        List<String> all = new ArrayList<>(List.of(COMMAND));
        all.addAll(args);
        return all;
    }

    private static void addAll(ArrayNode merged, Path jmhJson) throws IOException {
        if (!Files.isRegularFile(jmhJson)) {
            return; // every trial of the step failed or was skipped; its output said why
        }
        JsonNode scores = JSON.readTree(jmhJson.toFile());
        scores.forEach(merged::add);
    }

    /**
     * Why CPU time cannot be counted here, if it cannot: JMH's perfnorm profiler runs {@code perf stat}, which must
     * exist and be allowed to count the task-clock software event (hardware events are often missing in VMs).
     */
    static Optional<String> whyNoCpuTime() throws InterruptedException {
        try {
            Process perf = new ProcessBuilder("perf", "stat", "-x", ",", "-e", JmhResult.CPU_METRIC, "true")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!perf.waitFor(30, TimeUnit.SECONDS)) {
                perf.destroyForcibly();
                return Optional.of("perf stat did not finish within 30 s");
            }
            return perf.exitValue() == 0 ? Optional.empty()
                    : Optional.of("perf stat -e " + JmhResult.CPU_METRIC + " failed with exit status " + perf.exitValue());
        } catch (IOException e) {
            return Optional.of("no perf (" + e.getMessage() + "); Debian: apt-get install linux-perf");
        }
    }

    /** /proc/loadavg as it reads (1, 5 and 15 minute averages, runnable/total tasks, last pid), or "unknown". */
    static String loadAverage() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException | UncheckedIOException e) {
            return "unknown";
        }
    }

    private static double seconds(long startNanos) {
        return Math.round((System.nanoTime() - startNanos) / 1e8) / 10.0;
    }

    private static double seconds(ZonedDateTime start) {
        return Duration.between(start, ZonedDateTime.now()).toMillis() / 1e3;
    }

    private static void deleteTree(Path directory) throws IOException {
        try (var paths = Files.walk(directory)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
