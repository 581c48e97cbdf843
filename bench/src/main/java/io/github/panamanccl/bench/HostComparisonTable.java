package io.github.panamanccl.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.function.ToDoubleFunction;

/**
 * The host comparison's tables, each ratio from two scores of one result file (one run of bench/host/compare.sh):
 * per tensor count and receiver count, panama-nccl bucketed against its per-tensor path, plain loopback TCP of the
 * same bytes and torch gloo's per-tensor and flattened broadcasts, with the three targets; time against
 * receiver count; GB/s against bucket size with the loopback limit.
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

    /** One tensor count and receiver count of one run: milliseconds per sync of each system (NaN when absent). */
    record Row(int tensors, int receivers, double bucketedMs, double perTensorMs, double rawTcpMs, double glooPerTensorMs,
               double glooFlattenedMs) {
        /** Per-tensor time / bucketed time: above 1, bucketed is faster. */
        double overPerTensor() {
            return perTensorMs / bucketedMs;
        }

        /** Raw TCP time / bucketed time: the fraction of the loopback limit's speed reached. */
        double ofLoopback() {
            return rawTcpMs / bucketedMs;
        }

        double overGlooPerTensor() {
            return glooPerTensorMs / bucketedMs;
        }

        double overGlooFlattened() {
            return glooFlattenedMs / bucketedMs;
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
            Predicate<JmhResult> same = result -> isHostSync(result) && result.params().containsKey("tensors")
                    && intParam(result, "tensors") == key.get(0) && receivers(result) == key.get(1);
            rows.add(new Row(key.get(0), key.get(1), ms(oneRun, SYNC, "bucketed", same), ms(oneRun, SYNC, "perTensor", same),
                    ms(oneRun, SYNC, "rawTcp", same), ms(oneRun, GLOO, "perTensor", same),
                    ms(oneRun, GLOO, "flattened", same)));
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
        out.println("| tensors | receivers | bucketed | per-tensor | raw TCP | gloo per-tensor | gloo flattened "
                + "| per-tensor / bucketed (>= 1) | raw TCP / bucketed (>= 0.9) | gloo per-tensor / bucketed "
                + "| gloo flattened / bucketed (>= 5) |");
        out.println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (Row row : rows) {
            out.printf(Locale.ROOT, "| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", row.tensors(),
                    row.receivers(), number(row.bucketedMs()), number(row.perTensorMs()), number(row.rawTcpMs()),
                    number(row.glooPerTensorMs()), number(row.glooFlattenedMs()), number(row.overPerTensor()),
                    number(row.ofLoopback()), number(row.overGlooPerTensor()), number(row.overGlooFlattened()));
        }
        out.println("targets: bucketed >= per-tensor at every count: " + verdict(met(rows, Row::overPerTensor, PER_TENSOR_TARGET))
                + "; bucketed >= 0.9 x raw loopback TCP: " + verdict(met(rows, Row::ofLoopback, LOOPBACK_TARGET))
                + "; bucketed >= 5x faster than gloo flattened: " + verdict(met(rows, Row::overGlooFlattened, GLOO_FLATTENED_TARGET)));
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

    private static double ms(List<JmhResult> oneRun, String className, String method, Predicate<JmhResult> same) {
        return find(oneRun, className, method, same).map(r -> r.secondsPerOp() * 1e3).orElse(Double.NaN);
    }

    private static double gbps(List<JmhResult> oneRun, String method, Predicate<JmhResult> same) {
        return find(oneRun, BUCKET_SIZE, method, same)
                .map(r -> r.param("modelMiB").orElseThrow() * (1 << 20) / r.secondsPerOp() / 1e9).orElse(Double.NaN);
    }

    private static Optional<JmhResult> find(List<JmhResult> oneRun, String className, String method,
                                            Predicate<JmhResult> same) {
        return oneRun.stream().filter(r -> r.className().equals(className) && r.method().equals(method))
                .filter(same).findFirst();
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
