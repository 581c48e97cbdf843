package io.github.panamanccl.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.TreeMap;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.github.panamanccl.cli.ModelInventories;

/**
 * {@code gpu-report CLASS_RESULTS_DIR OUT_DIR}, the last step of bench/gpu/run.sh's performance call: merges the JMH
 * result files that the call wrote one per benchmark class ({@code CLASS_RESULTS_DIR/*.json}, each with its
 * {@code .meta.json}) into {@code OUT_DIR/jmh-gpu.json} and {@code jmh-gpu.meta.json} (the device tool returns at most
 * 8 files), then prints every score and every ratio issues 11 and 16 ask for, each next to its target, computed from this
 * run's files only: the JMH scores and the PyTorch peer's {@code OUT_DIR/torch-peer-*.json}.
 */
final class GpuReport {
    static final String COMMAND = "gpu-report";
    static final String MERGED = "jmh-gpu.json";
    private static final String BROADCAST = "GpuBroadcastBenchmark";
    private static final String PACK = "GpuPackBenchmark";
    private static final String TWO_RANKS = "GpuTwoRankSyncBenchmark";
    private static final String ZERO_COPY = "GpuZeroCopySyncBenchmark";
    private static final String MANY_TENSORS = "qwen3-next-80b-a3b";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One line of the ratio table; {@code value} = baseline time / our time (above 1: ours is faster). */
    record Row(String ratio, String inventory, Optional<Double> value, String target, String detail) {
        /** "met", "NOT met", "-" (no target, or no value), or "n/a" (not measured). */
        String verdict() {
            if (value.isEmpty()) {
                return "n/a";
            }
            if (target.isEmpty()) {
                return "-";
            }
            double bound = Double.parseDouble(target.substring(target.indexOf(' ') + 1));
            boolean met = target.startsWith(">=") ? value.get() >= bound : value.get() > bound;
            return met ? "met" : "NOT met";
        }
    }

    private GpuReport() {
    }

    static void main(List<String> args, PrintStream out) {
        if (args.size() != 2) {
            throw new IllegalArgumentException("usage: " + COMMAND + " CLASS_RESULTS_DIR OUT_DIR");
        }
        Path outDir = Path.of(args.get(1));
        Path merged = outDir.resolve(MERGED);
        List<Path> classFiles = merge(Path.of(args.get(0)), merged);
        List<JmhResult> scores = Files.exists(merged) ? JmhResult.read(merged) : List.of();
        List<PyTorchResult> torch = PyTorchResult.readAll(outDir);
        out.println("JMH result files merged into " + merged + ": "
                + (classFiles.isEmpty() ? "none" : classFiles.stream().map(Path::getFileName).toList()));
        printScores(scores, torch, out);
        out.println();
        print(rows(scores, torch), out);
    }

    /**
     * Writes every JMH score of the files in {@code classResults} into {@code merged} (nothing when there is none) and,
     * beside it, the metadata of the first file that has one, with the list of files; returns the files merged.
     */
    static List<Path> merge(Path classResults, Path merged) {
        List<Path> files = JmhResult.resultFiles(classResults).stream()
                .filter(file -> file.getParent().equals(classResults)).toList();
        if (files.isEmpty()) {
            return files;
        }
        ArrayNode all = JSON.createArrayNode();
        for (Path file : files) {
            try {
                JSON.readTree(file.toFile()).forEach(all::add);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + file, e);
            }
        }
        try {
            Files.createDirectories(merged.toAbsolutePath().getParent());
            JSON.writeValue(merged.toFile(), all);
            Optional<Path> metadata = files.stream().map(RunMetadata::metadataPathFor).filter(Files::exists).findFirst();
            ObjectNode meta = metadata.map(file -> (ObjectNode) RunMetadata.read(file)).orElseGet(JSON::createObjectNode);
            ArrayNode merges = meta.putArray("mergedFrom");
            files.forEach(file -> merges.add(file.getFileName().toString()));
            JSON.writeValue(RunMetadata.metadataPathFor(merged).toFile(), meta);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + merged, e);
        }
        return files;
    }

    /** Every ratio of issue 11, per inventory measured; a pair not measured in this run reads "n/a". */
    static List<Row> rows(List<JmhResult> scores, List<PyTorchResult> torch) {
        List<Row> rows = new ArrayList<>();
        for (String inventory : inventories(scores, torch)) {
            Optional<JmhResult> bucketed = score(scores, BROADCAST, "bucketed", inventory);
            rows.add(ratio("bucketed sync vs one cudaMemcpy D2D of the same bytes (D2D / bucketed)", inventory,
                    score(scores, BROADCAST, "deviceToDeviceMemcpy", inventory), bucketed, ">= 0.9"));
            rows.add(ratio("bucketed vs per-tensor ncclBroadcast (per-tensor / bucketed)", inventory,
                    score(scores, BROADCAST, "perTensor", inventory), bucketed,
                    inventory.equals(MANY_TENSORS) ? ">= 20" : ""));
            rows.add(ratio("bucketed vs per-tensor in one ncclGroupStart/End (grouped / bucketed)", inventory,
                    score(scores, BROADCAST, "grouped", inventory), bucketed, ">= 1.0"));
            rows.add(versusTorch("ours vs PyTorch per-tensor dist.broadcast (torch / bucketed)", inventory,
                    torch(torch, inventory, "per_tensor_broadcast"), bucketed));
            rows.add(versusTorch("ours vs SGLang-style flatten + 1 broadcast + views (torch / bucketed)", inventory,
                    torch(torch, inventory, "flat_uint8_broadcast"), bucketed));
            rows.add(ratio("pack: 1 cudaMemcpyBatchAsync per bucket vs 1 cudaMemcpyAsync per tensor (per-tensor / "
                    + "batched)", inventory, score(scores, PACK, "perTensorMemcpyAsync", inventory),
                    score(scores, PACK, "batchedMemcpy", inventory), ""));
            rows.add(ratio("two ranks on one GPU vs one rank, bucketed (one-rank / two-rank time)", inventory, bucketed,
                    score(scores, TWO_RANKS, "publish", inventory), ""));
            Optional<JmhResult> zeroCopy = score(scores, ZERO_COPY, "zeroCopyInPlace", inventory);
            rows.add(ratio("zero-copy sync in place vs the broadcast alone (broadcast / sync)", inventory,
                    score(scores, ZERO_COPY, "broadcastAlone", inventory), zeroCopy, ">= 0.9"));
            rows.add(ratio("zero-copy flip vs the broadcast alone (broadcast / sync)", inventory,
                    score(scores, ZERO_COPY, "broadcastAlone", inventory),
                    score(scores, ZERO_COPY, "zeroCopyFlip", inventory), ">= 0.9"));
            rows.add(ratio("zero-copy vs pack and scatter, in place (pack-and-scatter / zero-copy)", inventory,
                    score(scores, ZERO_COPY, "packScatter", inventory), zeroCopy, ""));
        }
        return rows;
    }

    static void print(List<Row> rows, PrintStream out) {
        out.println("| ratio | inventory | value | target | verdict | measured |");
        out.println("| --- | --- | --- | --- | --- | --- |");
        for (Row row : rows) {
            out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s |%n", row.ratio(), row.inventory(),
                    row.value().map(v -> String.format(Locale.ROOT, "%.2f", v)).orElse("n/a"),
                    row.target().isEmpty() ? "-" : row.target(), row.verdict(), row.detail());
        }
    }

    private static void printScores(List<JmhResult> scores, List<PyTorchResult> torch, PrintStream out) {
        out.println("| score | parameters | ms per op | ± ms |");
        out.println("| --- | --- | --- | --- |");
        for (JmhResult score : scores) {
            out.printf(Locale.ROOT, "| %s | %s | %.3f | %.3f |%n", score.name(), new TreeMap<>(score.params()),
                    score.secondsPerOp() * 1e3, score.errorSeconds() * 1e3);
        }
        for (PyTorchResult result : torch) {
            out.printf(Locale.ROOT, "| torch %s | {inventory=%s, bytes=%d} | %.3f | - |%n", result.method(),
                    result.inventory(), result.modelBytes(), result.secondsPerSync() * 1e3);
        }
    }

    private static Row ratio(String name, String inventory, Optional<JmhResult> baseline, Optional<JmhResult> ours,
                             String target) {
        if (baseline.isEmpty() || ours.isEmpty()) {
            return new Row(name, inventory, Optional.empty(), target, "not measured: "
                    + (baseline.isEmpty() ? "baseline" : "ours") + " missing");
        }
        return new Row(name, inventory, Optional.of(baseline.get().secondsPerOp() / ours.get().secondsPerOp()), target,
                String.format(Locale.ROOT, "%.3f / %.3f ms", baseline.get().secondsPerOp() * 1e3,
                        ours.get().secondsPerOp() * 1e3));
    }

    /** PyTorch's time over ours, for the same inventory at the same size; the bytes of both sides are compared. */
    private static Row versusTorch(String name, String inventory, Optional<PyTorchResult> torch,
                                   Optional<JmhResult> ours) {
        if (torch.isEmpty() || ours.isEmpty()) {
            return new Row(name, inventory, Optional.empty(), ">= 1.0", "not measured: "
                    + (torch.isEmpty() ? "torch peer" : "ours") + " missing");
        }
        long ourBytes = modelBytes(ours.get());
        String bytes = ourBytes == torch.get().modelBytes() ? "same " + ourBytes + " B"
                : "BYTES DIFFER: ours " + ourBytes + " B, torch " + torch.get().modelBytes() + " B";
        return new Row(name, inventory, Optional.of(torch.get().secondsPerSync() / ours.get().secondsPerOp()),
                ">= 1.0", String.format(Locale.ROOT, "%.3f / %.3f ms, %s", torch.get().secondsPerSync() * 1e3,
                        ours.get().secondsPerOp() * 1e3, bytes));
    }

    /** The tensor bytes of the model a GPU benchmark score moved (its inventory scaled to its modelMiB). */
    private static long modelBytes(JmhResult score) {
        long modelBytes = Long.parseLong(score.params().get("modelMiB")) << 20;
        return ModelInventories.load(score.params().get("inventory")).scaledToFit(modelBytes).totalBytes();
    }

    private static List<String> inventories(List<JmhResult> scores, List<PyTorchResult> torch) {
        return Stream.concat(scores.stream().map(s -> s.params().get("inventory")), torch.stream()
                .map(PyTorchResult::inventory)).filter(inventory -> inventory != null).distinct().sorted().toList();
    }

    private static Optional<JmhResult> score(List<JmhResult> scores, String className, String method,
                                             String inventory) {
        return scores.stream().filter(s -> s.className().equals(className) && s.method().equals(method)
                && inventory.equals(s.params().get("inventory"))).findFirst();
    }

    private static Optional<PyTorchResult> torch(List<PyTorchResult> torch, String inventory, String method) {
        return torch.stream().filter(r -> r.inventory().equals(inventory) && r.method().equals(method)).findFirst();
    }
}
