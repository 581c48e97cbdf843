package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

class RatiosTest {
    private static final Path RUN = Path.of("run.json");

    @Test
    void eachRatioDividesTheScoresOfOneRunWithTheSameParameters() {
        List<JmhResult> results = List.of(
                result("HostPackBenchmark", "bulkCopy", 45e-3, Map.of("modelMiB", "256")),
                result("HostPackBenchmark", "packUnpack", 50e-3, Map.of("modelMiB", "256")),
                result("DowncallBenchmark", "ffmGenerated", 12e-9, Map.of()),
                result("DowncallBenchmark", "cLoop", 8e-9, Map.of()),
                result("HostSyncBenchmark", "perTensor", 400e-3, Map.of("tensors", "18867")),
                result("HostSyncBenchmark", "bucketed", 50e-3, Map.of("tensors", "18867")),
                result("HostSyncBenchmark", "bucketed", 45e-3, Map.of("tensors", "1000")));

        Map<String, Double> byName = Ratios.compute(results).stream()
                .collect(java.util.stream.Collectors.toMap(r -> r.numerator() + "/" + r.denominator(), Ratios.Ratio::value));

        assertEquals(Map.of("bulkCopy/packUnpack", 0.9, "ffmGenerated/cLoop", 1.5, "perTensor/bucketed", 8.0).keySet(),
                byName.keySet());
        assertEquals(0.9, byName.get("bulkCopy/packUnpack"), 1e-9);
        assertEquals(1.5, byName.get("ffmGenerated/cLoop"), 1e-9);
        assertEquals(8.0, byName.get("perTensor/bucketed"), 1e-9);
    }

    @Test
    void hostPackIsComparedOnOneThreadAndOnAllThreadsWithinEachParameterSet() {
        Map<String, String> real = Map.of("modelMiB", "256", "sizes", "real");
        Map<String, String> scaled = Map.of("modelMiB", "256", "sizes", "scaled");
        List<JmhResult> results = List.of(
                result("HostPackBenchmark", "bulkCopy", 30e-3, real),
                result("HostPackBenchmark", "bulkCopyAllThreads", 20e-3, real),
                result("HostPackBenchmark", "packUnpack", 25e-3, real),
                result("HostPackBenchmark", "packUnpackOneThread", 40e-3, real),
                result("HostPackBenchmark", "bulkCopy", 30e-3, scaled));

        Map<String, Double> byName = Ratios.compute(results).stream()
                .collect(java.util.stream.Collectors.toMap(r -> r.numerator() + "/" + r.denominator(), Ratios.Ratio::value));

        assertEquals(3, byName.size(), "the scaled set has no pack score: no ratio for it");
        assertEquals(1.2, byName.get("bulkCopy/packUnpack"), 1e-9);
        assertEquals(0.75, byName.get("bulkCopy/packUnpackOneThread"), 1e-9);
        assertEquals(0.8, byName.get("bulkCopyAllThreads/packUnpack"), 1e-9);
    }

    private static JmhResult result(String className, String method, double seconds, Map<String, String> params) {
        return new JmhResult(RUN, className, method, params, seconds, Double.NaN);
    }
}
