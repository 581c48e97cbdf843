package io.github.panamanccl.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.cli.DemoCluster;
import io.github.panamanccl.cli.LoopbackCluster;
import io.github.panamanccl.cli.ModelInventories;

/** Models and checks shared by the benchmarks. */
final class BenchModels {
    private BenchModels() {
    }

    /**
     * {@code count} tensors taken evenly across a built-in inventory (so the mix of shapes and dtypes is kept),
     * scaled down to at most {@code maxBytes}.
     */
    static Inventory evenlySpaced(String inventory, int count, long maxBytes) {
        List<TensorSpec> all = ModelInventories.load(inventory).tensors();
        if (count < 1 || count > all.size()) {
            throw new IllegalArgumentException("tensors = " + count + ": " + inventory + " has " + all.size());
        }
        List<TensorSpec> picked = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            picked.add(all.get((int) ((long) i * all.size() / count)));
        }
        return Inventory.of(inventory + " (" + count + " tensors)", picked).scaledToFit(maxBytes);
    }

    /**
     * A built-in inventory within {@code maxBytes}: {@code sizes} = {@code scaled}, all tensors scaled down to fit;
     * {@code real}, the leading tensors at their real sizes ({@link #realPrefix}).
     */
    static Inventory sized(String inventory, String sizes, long maxBytes) {
        return switch (sizes) {
            case "scaled" -> ModelInventories.load(inventory).scaledToFit(maxBytes);
            case "real" -> realPrefix(inventory, maxBytes);
            default -> throw new IllegalArgumentException("sizes = " + sizes + ": not scaled or real");
        };
    }

    /**
     * The leading tensors of a built-in inventory at their real (unscaled) sizes, at most {@code maxBytes} in all:
     * tensors larger than the whole budget are skipped (Qwen3-30B-A3B's 593 MiB embedding below 1 GiB), the prefix
     * ends before the first tensor that no longer fits.
     */
    static Inventory realPrefix(String inventory, long maxBytes) {
        List<TensorSpec> prefix = new ArrayList<>();
        long total = 0;
        for (TensorSpec tensor : ModelInventories.load(inventory).tensors()) {
            if (tensor.byteSize() > maxBytes) {
                continue;
            }
            if (total + tensor.byteSize() > maxBytes) {
                break;
            }
            prefix.add(tensor);
            total += tensor.byteSize();
        }
        return Inventory.of(inventory + " (first " + prefix.size() + " tensors, real sizes)", prefix);
    }

    /** Fills the sender with {@code version}, runs {@code sync} and fails unless every receiver got every tensor. */
    static void checkVerified(LoopbackCluster cluster, long version, LongFunction<DemoCluster.SyncResult> sync) {
        int[] expected = cluster.fillSender(version);
        sync.apply(version);
        DemoCluster.Verification verification = cluster.verify(expected);
        if (!verification.complete()) {
            throw new IllegalStateException("version " + version + " reached " + verification.receiversVerified() + " of "
                    + verification.receivers() + " receivers intact; first mismatch " + verification.firstMismatch());
        }
    }
}
