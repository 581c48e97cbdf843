package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.cli.ModelInventories;

/**
 * bench/gpu/torch_peer.py scales an inventory exactly as the Java benchmarks do ({@link Inventory#scaledToFit}), so
 * that PyTorch and panama-nccl move the same tensors and bytes on the GPU: its {@code --dry-run}, which needs no torch.
 */
class TorchPeerTest {
    private static final String PYTHON = HostComparison.Settings.parse(List.of(), java.time.ZonedDateTime.now()).python();

    @ParameterizedTest
    @CsvSource({"qwen3-30b-a3b, 16384", "qwen3-next-80b-a3b, 16384", "qwen3-next-80b-a3b, 256"})
    void theDryRunPlansTheTensorsAndBytesOfTheJavaSide(String inventory, long modelMiB)
            throws IOException, InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder(PYTHON, "bench/gpu/torch_peer.py", "--inventory", inventory, "--max-bytes",
                    modelMiB + "MiB", "--dry-run").redirectErrorStream(true).start();
        } catch (IOException noPython) {
            assumeTrue(false, "no " + PYTHON + " here: " + noPython.getMessage());
            return;
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(true, process.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, process.exitValue(), output);
        JsonNode plan = new ObjectMapper().readTree(output);
        Inventory java = ModelInventories.load(inventory).scaledToFit(modelMiB << 20);

        assertEquals(java.tensors().size(), plan.path("tensors").asInt(), output);
        assertEquals(java.totalBytes(), plan.path("bytes").asLong(), output);
    }
}
