package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;

import org.junit.jupiter.api.Test;

class ModelInventoriesTest {
    @Test
    void theBundledInventoriesMatchTheirReadme() {
        assertEquals(List.of("qwen3-30b-a3b", "qwen3-next-80b-a3b"), ModelInventories.names());
        Inventory qwen30 = ModelInventories.load("qwen3-30b-a3b");
        assertEquals("qwen3-30b-a3b", qwen30.source());
        assertEquals(18_867, qwen30.size());
        assertEquals(61_064_245_248L, qwen30.totalBytes());
        assertEquals(new TensorSpec("model.embed_tokens.weight", DType.BFLOAT16, 151936, 2048), qwen30.tensors().get(0));
        Inventory next = ModelInventories.load("qwen3-next-80b-a3b");
        assertEquals(74_391, next.size());
        assertEquals(159_348_782_592L, next.totalBytes());
        assertEquals(new TensorSpec("lm_head.weight", DType.BFLOAT16, 151936, 2048), next.tensors().get(next.size() - 1));
    }

    @Test
    void anotherNameIsRefusedWithTheKnownOnes() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> ModelInventories.load("../qwen3-30b-a3b"));

        assertEquals("no bundled inventory '../qwen3-30b-a3b'; known: [qwen3-30b-a3b, qwen3-next-80b-a3b]",
                refused.getMessage());
    }
}
