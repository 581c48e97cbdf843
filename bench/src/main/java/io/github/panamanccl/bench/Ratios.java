package io.github.panamanccl.bench;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * The ratios the benchmarks exist for, each computed from two scores of the same result file (the same run):
 * host pack+unpack against a bulk memory copy, FFM against the C call, bucketed against per-tensor sync.
 */
final class Ratios {
    private Ratios() {
    }

    /** A ratio of two scores of one run; {@code value} = numerator time / denominator time. */
    record Ratio(String name, String numerator, String denominator, Map<String, String> params, double value,
                 String target, Path file) {
    }

    static List<Ratio> compute(List<JmhResult> results) {
        List<Ratio> ratios = new ArrayList<>();
        ratio(results, "HostPackBenchmark", "bulkCopy", "packUnpack",
                "host pack+unpack speed vs bulk memory copy (copy time / ours)", ">= 0.9").forEach(ratios::add);
        ratio(results, "HostPackBenchmark", "bulkCopy", "packUnpackOneThread",
                "host pack+unpack on one thread vs bulk memory copy (copy time / ours)", "").forEach(ratios::add);
        ratio(results, "HostPackBenchmark", "bulkCopyAllThreads", "packUnpack",
                "host pack+unpack vs bulk memory copy, both on all threads (copy time / ours)", "").forEach(ratios::add);
        ratio(results, "DowncallBenchmark", "ffmGenerated", "cLoop",
                "FFM call cost vs C call (generated binding / C loop)", "<= 1.5").forEach(ratios::add);
        ratio(results, "DowncallBenchmark", "ffmCritical", "cLoop",
                "FFM call cost vs C call (critical / C loop)", "<= 1.5").forEach(ratios::add);
        ratio(results, "DowncallBenchmark", "ffmCriticalHeap", "cLoop",
                "FFM call cost vs C call (critical, heap out-param / C loop)", "").forEach(ratios::add);
        ratio(results, "DowncallBenchmark", "publicApi", "cLoop",
                "FFM call cost vs C call (Cuda.runtimeVersion() / C loop)", "").forEach(ratios::add);
        ratio(results, "HostSyncBenchmark", "perTensor", "bucketed",
                "bucketed speed-up over per-tensor, host transport (per-tensor time / bucketed)", "> 1").forEach(ratios::add);
        ratio(results, "GpuBroadcastBenchmark", "perTensor", "bucketed",
                "bucketed speed-up over per-tensor ncclBroadcast (per-tensor time / bucketed)", "> 1").forEach(ratios::add);
        ratio(results, "GpuBroadcastBenchmark", "grouped", "bucketed",
                "bucketed speed-up over ncclGroup-batched per-tensor (grouped time / bucketed)", "> 1").forEach(ratios::add);
        ratio(results, "GpuPackBenchmark", "perTensorMemcpyAsync", "batchedMemcpy",
                "one cudaMemcpyBatchAsync vs per-tensor cudaMemcpyAsync (per-tensor time / batched)", "> 1").forEach(ratios::add);
        ratio(results, "GpuPackBenchmark", "deviceToDeviceMemcpy", "batchedMemcpy",
                "batched pack speed vs one cudaMemcpy D2D of the same bytes (memcpy time / ours)", "").forEach(ratios::add);
        ratio(results, "HostZeroCopySyncBenchmark", "zeroCopyInPlace", "packScatterInPlace",
                "host sync, zero-copy in place vs pack and scatter in place (zero-copy time / packing)", "< 1").forEach(ratios::add);
        ratio(results, "HostZeroCopySyncBenchmark", "zeroCopyFlip", "packScatterStaged",
                "host sync, zero-copy flip vs pack and staged scatter (zero-copy time / packing)", "< 1").forEach(ratios::add);
        ratio(results, "GpuZeroCopySyncBenchmark", "zeroCopyInPlace", "broadcastAlone",
                "zero-copy sync vs the broadcast alone (sync time / broadcasts)", "<= 1.10").forEach(ratios::add);
        ratio(results, "GpuZeroCopySyncBenchmark", "zeroCopyFlip", "broadcastAlone",
                "zero-copy flip sync vs the broadcast alone (sync time / broadcasts)", "").forEach(ratios::add);
        ratio(results, "GpuZeroCopySyncBenchmark", "packScatter", "zeroCopyInPlace",
                "pack and scatter vs zero-copy sync (packing time / zero-copy)", "> 1").forEach(ratios::add);
        ratio(results, "GpuZeroCopySyncBenchmark", "zeroCopyInPlace", "deviceToDeviceCopy",
                "zero-copy sync vs one D2D copy of the same bytes (sync time / copy)", "").forEach(ratios::add);
        return List.copyOf(ratios);
    }

    static void print(List<JmhResult> results, PrintStream out) {
        List<Ratio> ratios = compute(results);
        if (ratios.isEmpty()) {
            out.println("no ratios: no result file holds both scores of any pair");
            return;
        }
        out.println("| ratio | parameters | value | target | result file |");
        out.println("| --- | --- | --- | --- | --- |");
        for (Ratio ratio : ratios) {
            out.printf(Locale.ROOT, "| %s | %s | %.2f | %s | %s |%n", ratio.name(), ratio.params().isEmpty() ? "-" : new TreeMap<>(ratio.params()),
                    ratio.value(), ratio.target().isEmpty() ? "-" : ratio.target(), ratio.file().getFileName());
        }
    }

    /** numerator / denominator for every parameter set where both scores come from one file. */
    private static List<Ratio> ratio(List<JmhResult> results, String className, String numerator, String denominator,
                                     String name, String target) {
        return results.stream()
                .filter(result -> result.className().equals(className) && result.method().equals(numerator))
                .flatMap(top -> find(results, className, denominator, top).stream()
                        .map(bottom -> new Ratio(name, numerator, denominator, top.params(),
                                top.secondsPerOp() / bottom.secondsPerOp(), target, top.file())))
                .toList();
    }

    private static Optional<JmhResult> find(List<JmhResult> results, String className, String method, JmhResult sameRunAs) {
        return results.stream()
                .filter(result -> result.className().equals(className) && result.method().equals(method))
                .filter(result -> result.file().equals(sameRunAs.file()) && result.params().equals(sameRunAs.params()))
                .findFirst();
    }
}
