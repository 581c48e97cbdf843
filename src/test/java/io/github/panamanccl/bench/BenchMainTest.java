package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.Optional;

import io.github.panamanccl.Cuda;

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
    void gpuBenchmarksRefuseToStartWithoutAGpuAndSayWhy() {
        assumeTrue(Cuda.probeDevices().count() == 0, "this machine has a GPU");

        IllegalStateException refused = assertThrows(IllegalStateException.class, () -> GpuModel.requireGpu(true));

        assertTrue(refused.getMessage().startsWith("GPU benchmark skipped: "), refused.getMessage());
    }
}
