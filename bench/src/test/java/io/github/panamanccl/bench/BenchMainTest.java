package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.cli.ModelInventories;

import org.junit.jupiter.api.Test;

class BenchMainTest {
    @Test
    void findsTheResultFileAndPutsTheMetadataNextToIt() {
        Optional<Path> file = BenchMain.resultFile(new String[] {"Host.*", "-rf", "json", "-rff", "bench/results/2026-01-01-host.json"});

        assertEquals(Optional.of(Path.of("bench/results/2026-01-01-host.json")), file);
        assertEquals(Path.of("bench/results/2026-01-01-host.meta.json"), RunMetadata.metadataPathFor(file.orElseThrow()));
        assertEquals(Optional.empty(), BenchMain.resultFile(new String[] {"Host.*", "-rff"}));
    }

    @Test
    void realPrefixKeepsRealSizesInOrderWithinTheBudget() {
        List<TensorSpec> all = ModelInventories.load("qwen3-30b-a3b").tensors();
        Inventory small = BenchModels.realPrefix("qwen3-30b-a3b", 256L << 20);
        Inventory large = BenchModels.realPrefix("qwen3-30b-a3b", 1L << 30);

        assertTrue(small.totalBytes() <= 256L << 20 && small.totalBytes() > 250L << 20, small.toString());
        assertEquals(all.subList(1, 1 + small.size()), small.tensors(), "the embedding (593 MiB) is skipped, the rest in order");
        assertEquals(all.subList(0, large.size()), large.tensors(), "the embedding fits in 1 GiB");
        assertTrue(large.totalBytes() <= 1L << 30, large.toString());
        assertTrue(large.totalBytes() + all.get(large.size()).byteSize() > 1L << 30, "the prefix stops at the first misfit");
    }

    @Test
    void gpuBenchmarksRefuseToStartWithoutAGpuAndSayWhy() {
        assumeTrue(Cuda.probeDevices().count() == 0, "this machine has a GPU");

        IllegalStateException refused = assertThrows(IllegalStateException.class, () -> GpuModel.requireGpu(true));

        assertTrue(refused.getMessage().startsWith("GPU benchmark skipped: "), refused.getMessage());
    }

    @Test
    void theZeroCopySyncGpuBenchmarkRefusesToStartWithoutAGpuAndSaysWhy() {
        assumeTrue(Cuda.probeDevices().count() == 0, "this machine has a GPU");

        for (String method : List.of("zeroCopyInPlace", "broadcastAlone", "deviceToDeviceCopy")) {
            IllegalStateException refused = assertThrows(IllegalStateException.class,
                    () -> new GpuZeroCopySyncBenchmark().setUp(method));
            assertTrue(refused.getMessage().startsWith("GPU benchmark skipped: "), refused.getMessage());
        }
    }
}
