package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What one host comparison run measures ({@link HostComparison}): the JMH parts with their parameters and
 * iterations, the gloo peer's runs with their time budgets, and a bound on how long it all takes.
 */
final class HostComparisonPlan {
    /** The model budget of every host sync measurement (the 74 391-tensor model needs 73 MiB: BenchModels). */
    static final int MODEL_MIB = 64;
    static final int BUCKET_MIB = 16;
    /** Forking a JVM, allocating every rank's tensors and the verified sync of a trial's setup, roughly. */
    private static final Duration TRIAL_OVERHEAD = Duration.ofSeconds(5);
    /** The gloo peer's start-up (torch import in every rank), beyond its time budget. */
    private static final Duration PEER_START = Duration.ofSeconds(15);

    private HostComparisonPlan() {
    }

    /** JMH warm-up and measurement iterations of every trial. */
    record Iterations(int warmups, Duration warmupTime, int measurements, Duration measurementTime) {
        Duration perTrial() {
            return warmupTime.multipliedBy(warmups).plus(measurementTime.multipliedBy(measurements));
        }
    }

    /** One step of a run. */
    sealed interface Part permits JmhPart, GlooPart {
        /** Names the step in the run's metadata. */
        String name();
    }

    /** One JMH invocation: the benchmarks matching {@code include}, every combination of {@code params}. */
    record JmhPart(String name, String include, Map<String, List<String>> params, int methods) implements Part {
        int trials() {
            return methods * params.values().stream().mapToInt(List::size).reduce(1, (a, b) -> a * b);
        }
    }

    /** One run of the gloo peer: a sender and {@code receivers} processes, every tensor count in turn. */
    record GlooPart(int receivers, List<Integer> tensors, int repeat, Duration budget) implements Part {
        @Override
        public String name() {
            return "gloo-" + receivers;
        }
    }

    /**
     * The steps in the order they run: for each receiver count, the JMH trials of every tensor count (all three
     * contenders of one tensor count side by side), then the gloo peer on the same counts; then the scaling and the
     * bucket-size sweep. Scores that form a ratio are thus measured minutes apart at most, not a whole run apart.
     */
    record Plan(Iterations iterations, List<Part> steps) {
        List<JmhPart> jmh() {
            return steps.stream().filter(JmhPart.class::isInstance).map(JmhPart.class::cast).toList();
        }

        List<GlooPart> gloo() {
            return steps.stream().filter(GlooPart.class::isInstance).map(GlooPart.class::cast).toList();
        }

        /** Tensor counts the gloo peer needs inventories of. */
        List<Integer> glooTensorCounts() {
            return gloo().stream().flatMap(part -> part.tensors().stream()).distinct().sorted().toList();
        }

        /** A bound on the run's length: every trial with its overhead, every peer run's time budget plus start-up. */
        Duration estimate() {
            Duration jmhTime = iterations.perTrial().plus(TRIAL_OVERHEAD)
                    .multipliedBy(jmh().stream().mapToInt(JmhPart::trials).sum());
            return gloo().stream().map(part -> part.budget().plus(PEER_START)).reduce(jmhTime, Duration::plus);
        }
    }

    static Plan of(boolean quick) {
        if (quick) {
            return new Plan(new Iterations(1, Duration.ofMillis(500), 2, Duration.ofMillis(500)), steps(
                    List.of(1000, 18867), Map.of(1, Duration.ofSeconds(40)), 2,
                    syncParams(List.of("18867"), List.of("4")), List.of("1", "4", "16", "64", "256")));
        }
        return new Plan(new Iterations(1, Duration.ofSeconds(1), 3, Duration.ofSeconds(1)), steps(
                List.of(1000, 4000, 18867, 74391),
                Map.of(1, Duration.ofSeconds(90), 2, Duration.ofSeconds(80), 4, Duration.ofSeconds(100)), 3,
                syncParams(List.of("1000", "18867"), List.of("8")), List.of("1", "2", "4", "8", "16", "64", "256")));
    }

    /** @param glooBudgets the receiver counts compared with gloo, with the peer's time budget for each */
    private static List<Part> steps(List<Integer> tensors, Map<Integer, Duration> glooBudgets, int glooRepeat,
                                    Map<String, List<String>> scaling, List<String> bucketSizes) {
        List<Part> steps = new ArrayList<>();
        for (int receivers : new TreeSet<>(glooBudgets.keySet())) {
            for (int count : tensors) {
                steps.add(new JmhPart("sync-" + count + "-" + receivers, "\\.HostSyncBenchmark\\.",
                        syncParams(List.of(String.valueOf(count)), List.of(String.valueOf(receivers))), 3));
            }
            steps.add(new GlooPart(receivers, tensors, glooRepeat, glooBudgets.get(receivers)));
        }
        steps.add(new JmhPart("scaling", "\\.HostSyncBenchmark\\.(bucketed|rawTcp)$", scaling, 2));
        steps.add(new JmhPart("bucket-size", "\\.HostBucketSizeBenchmark\\.", bucketParams(bucketSizes), 2));
        return List.copyOf(steps);
    }

    private static Map<String, List<String>> syncParams(List<String> tensors, List<String> receivers) {
        Map<String, List<String>> params = new LinkedHashMap<>();
        params.put("tensors", tensors);
        params.put("receivers", receivers);
        params.put("modelMiB", List.of(String.valueOf(MODEL_MIB)));
        params.put("bucketMiB", List.of(String.valueOf(BUCKET_MIB)));
        return params;
    }

    private static Map<String, List<String>> bucketParams(List<String> sizes) {
        Map<String, List<String>> params = new LinkedHashMap<>();
        params.put("bucketMiB", sizes);
        params.put("modelMiB", List.of("256"));
        params.put("receivers", List.of("1"));
        return params;
    }

}
