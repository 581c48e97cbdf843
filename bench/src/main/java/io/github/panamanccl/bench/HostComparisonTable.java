package io.github.panamanccl.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * The host comparison's tables, each ratio from two scores of one result file (one run of bench/host/compare.sh):
 * per tensor count and receiver count, panama-nccl bucketed against its per-tensor path, plain loopback TCP of the
 * same bytes and torch gloo's per-tensor and flattened broadcasts, with the three targets, in wall time and
 * in CPU time (which other work on the machine disturbs far less); GB/s against bucket size with the loopback limit.
 */
final class HostComparisonTable {
    static final String SYNC = "HostSyncBenchmark";
    static final String BUCKET_SIZE = "HostBucketSizeBenchmark";
    static final String GLOO = "GlooSync";
    /** Target: bucketed at least as fast as per-tensor (per-tensor time / bucketed time). */
    static final double PER_TENSOR_TARGET = 1.0;
    /** Target: bucketed at least 0.9 of the loopback limit's speed (raw TCP time / bucketed time). */
    static final double LOOPBACK_TARGET = 0.9;
    /** Target: bucketed at least 5 times faster than gloo's flattened broadcast (gloo time / bucketed time). */
    static final double GLOO_FLATTENED_TARGET = 5.0;

    private HostComparisonTable() {
    }

    /** What is compared, by the benchmark that measures it. */
    enum Contender {
        BUCKETED(SYNC, "bucketed", "bucketed"),
        PER_TENSOR(SYNC, "perTensor", "per-tensor"),
        RAW_TCP(SYNC, "rawTcp", "raw TCP"),
        GLOO_PER_TENSOR(GLOO, "perTensor", "gloo per-tensor"),
        GLOO_FLATTENED(GLOO, "flattened", "gloo flattened");

        final String className;
        final String method;
        final String label;

        Contender(String className, String method, String label) {
            this.className = className;
            this.method = method;
            this.label = label;
        }

        boolean measures(JmhResult result) {
            return result.className().equals(className) && result.method().equals(method);
        }
    }

    /** One tensor count and receiver count of one run: each system's score, where measured. */
    record Row(int tensors, int receivers, Map<Contender, JmhResult> scores) {
        /** Milliseconds per sync, NaN when not measured. */
        double ms(Contender system) {
            return Optional.ofNullable(scores.get(system)).map(r -> r.secondsPerOp() * 1e3).orElse(Double.NaN);
        }

        /** CPU milliseconds per sync (every thread or process of the run), NaN when not measured. */
        double cpuMs(Contender system) {
            return Optional.ofNullable(scores.get(system)).map(r -> r.cpuSecondsPerOp() * 1e3).orElse(Double.NaN);
        }

        /** {@code other}'s time / bucketed time: above 1, bucketed is faster. */
        double speedUpOver(Contender other) {
            return ms(other) / ms(Contender.BUCKETED);
        }

        double cpuSpeedUpOver(Contender other) {
            return cpuMs(other) / cpuMs(Contender.BUCKETED);
        }
    }

    /** GB/s of one bucket size (NaN when absent) and the limit's at the same write size. */
    record BucketRow(int bucketMiB, double bucketedGbps, double rawTcpGbps) {
        double ofLoopback() {
            return bucketedGbps / rawTcpGbps;
        }
    }

    /** Whether every row that has both scores meets {@code target}; empty when no row has them. */
    static Optional<Boolean> met(List<Row> rows, ToDoubleFunction<Row> ratio, double target) {
        List<Double> values = rows.stream().mapToDouble(ratio).filter(v -> !Double.isNaN(v)).boxed().toList();
        return values.isEmpty() ? Optional.empty() : Optional.of(values.stream().allMatch(v -> v >= target));
    }

    /** Rows of one result file's host sync scores (every system with the same tensors and receivers). */
    static List<Row> rows(List<JmhResult> oneRun) {
        TreeSet<List<Integer>> keys = new TreeSet<>(Comparator.<List<Integer>>comparingInt(k -> k.get(0))
                .thenComparingInt(k -> k.get(1)));
        for (JmhResult result : oneRun) {
            if (isHostSync(result) && result.params().containsKey("tensors")) {
                keys.add(List.of(intParam(result, "tensors"), receivers(result)));
            }
        }
        List<Row> rows = new ArrayList<>();
        for (List<Integer> key : keys) {
            Map<Contender, JmhResult> scores = new EnumMap<>(Contender.class);
            for (JmhResult result : oneRun) {
                if (isHostSync(result) && result.params().containsKey("tensors") && intParam(result, "tensors") == key.get(0)
                        && receivers(result) == key.get(1)) {
                    for (Contender system : Contender.values()) {
                        if (system.measures(result)) {
                            scores.putIfAbsent(system, result);
                        }
                    }
                }
            }
            rows.add(new Row(key.get(0), key.get(1), Map.copyOf(scores)));
        }
        return rows;
    }

    static List<BucketRow> bucketRows(List<JmhResult> oneRun) {
        TreeSet<Integer> sizes = new TreeSet<>();
        oneRun.stream().filter(r -> r.className().equals(BUCKET_SIZE)).forEach(r -> sizes.add(intParam(r, "bucketMiB")));
        List<BucketRow> rows = new ArrayList<>();
        for (int size : sizes) {
            Predicate<JmhResult> same = result -> intParam(result, "bucketMiB") == size;
            rows.add(new BucketRow(size, gbps(oneRun, "bucketed", same), gbps(oneRun, "rawTcp", same)));
        }
        return rows;
    }

    /** Prints the tables of the newest result file that holds host sync scores. */
    static void printNewest(List<JmhResult> results, PrintStream out) {
        List<JmhResult> run = newestComparisonRun(results);
        if (!run.isEmpty()) {
            print(run, out);
        }
    }

    /** The scores of the newest result file (by its run date, then name) that holds host sync scores. */
    static List<JmhResult> newestComparisonRun(List<JmhResult> results) {
        Optional<Path> newest = results.stream().filter(HostComparisonTable::isHostSync).map(JmhResult::file).distinct()
                .max(Comparator.comparing(JmhResult::runDate).thenComparing(Path::toString));
        return newest.map(file -> results.stream().filter(r -> r.file().equals(file)).toList()).orElse(List.of());
    }

    static void print(List<JmhResult> oneRun, PrintStream out) {
        List<Row> rows = rows(oneRun);
        if (rows.isEmpty()) {
            return;
        }
        out.println("host sync, ms per sync (" + oneRun.getFirst().file().getFileName() + "); ratios = other time / bucketed time");
        printTable(rows, Row::ms, Row::speedUpOver, out);
        out.println("targets: bucketed >= per-tensor at every count: "
                + verdict(met(rows, row -> row.speedUpOver(Contender.PER_TENSOR), PER_TENSOR_TARGET))
                + "; bucketed >= 0.9 x raw loopback TCP: "
                + verdict(met(rows, row -> row.speedUpOver(Contender.RAW_TCP), LOOPBACK_TARGET))
                + "; bucketed >= 5x faster than gloo flattened: "
                + verdict(met(rows, row -> row.speedUpOver(Contender.GLOO_FLATTENED), GLOO_FLATTENED_TARGET)));
        if (rows.stream().anyMatch(row -> !Double.isNaN(row.cpuMs(Contender.BUCKETED)))) {
            out.println("the same in CPU ms per sync (all threads and processes of the run; perf task-clock for JMH)");
            printTable(rows, Row::cpuMs, Row::cpuSpeedUpOver, out);
        }
        List<BucketRow> buckets = bucketRows(oneRun);
        if (!buckets.isEmpty()) {
            out.println("| bucket MiB | bucketed GB/s | raw TCP GB/s, writes of the bucket size | bucketed / raw TCP |");
            out.println("| --- | --- | --- | --- |");
            for (BucketRow row : buckets) {
                out.printf(Locale.ROOT, "| %d | %s | %s | %s |%n", row.bucketMiB(), number(row.bucketedGbps()),
                        number(row.rawTcpGbps()), number(row.ofLoopback()));
            }
        }
    }

    private interface Measure {
        double of(Row row, Contender system);
    }

    private static void printTable(List<Row> rows, Measure value, Measure ratio, PrintStream out) {
        List<Contender> others = List.of(Contender.PER_TENSOR, Contender.RAW_TCP, Contender.GLOO_PER_TENSOR, Contender.GLOO_FLATTENED);
        StringBuilder header = new StringBuilder("| tensors | receivers |");
        for (Contender system : Contender.values()) {
            header.append(' ').append(system.label).append(" |");
        }
        for (Contender other : others) {
            header.append(' ').append(other.label).append(" / bucketed |");
        }
        out.println(header);
        out.println("|" + " --- |".repeat(2 + Contender.values().length + others.size()));
        for (Row row : rows) {
            StringBuilder line = new StringBuilder("| " + row.tensors() + " | " + row.receivers() + " |");
            for (Contender system : Contender.values()) {
                line.append(' ').append(number(value.of(row, system))).append(" |");
            }
            for (Contender other : others) {
                line.append(' ').append(number(ratio.of(row, other))).append(" |");
            }
            out.println(line);
        }
    }

    private static String verdict(Optional<Boolean> met) {
        return met.map(yes -> yes ? "met" : "NOT met").orElse("not measured");
    }

    private static String number(double value) {
        if (Double.isNaN(value)) {
            return "-";
        }
        return String.format(Locale.ROOT, value >= 100 ? "%.0f" : value >= 10 ? "%.1f" : "%.2f", value);
    }

    static boolean isHostSync(JmhResult result) {
        return result.className().equals(SYNC) || result.className().equals(GLOO);
    }

    private static double gbps(List<JmhResult> oneRun, String method, Predicate<JmhResult> same) {
        return oneRun.stream().filter(r -> r.className().equals(BUCKET_SIZE) && r.method().equals(method)).filter(same)
                .findFirst().map(r -> r.param("modelMiB").orElseThrow() * (1 << 20) / r.secondsPerOp() / 1e9)
                .orElse(Double.NaN);
    }

    private static int intParam(JmhResult result, String name) {
        return (int) (double) result.param(name).orElseThrow(() -> new IllegalArgumentException(
                result.name() + " in " + result.file() + " has no parameter '" + name + "'"));
    }

    /** A result without a receivers parameter had one receiver (the benchmarks' default before it existed). */
    private static int receivers(JmhResult result) {
        return result.params().containsKey("receivers") ? intParam(result, "receivers") : 1;
    }
}
