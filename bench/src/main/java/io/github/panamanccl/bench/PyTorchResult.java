package io.github.panamanccl.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One method timed by bench/gpu/torch_peer.py (file {@code torch-peer-<inventory>.json}): median seconds to move
 * the whole scaled inventory on one GPU.
 *
 * @param file           the torch-peer JSON file
 * @param inventory      inventory name, e.g. qwen3-30b-a3b
 * @param modelBytes     bytes of the scaled inventory
 * @param method         per_tensor_broadcast, flat_uint8_broadcast or d2d_copy
 * @param secondsPerSync median seconds of one sync of the whole model
 */
record PyTorchResult(Path file, String inventory, long modelBytes, String method, double secondsPerSync) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Every torch-peer-*.json under {@code resultsDir} (any depth) that holds measured methods, oldest path first. */
    static List<PyTorchResult> readAll(Path resultsDir) {
        if (!Files.isDirectory(resultsDir)) {
            return List.of();
        }
        List<PyTorchResult> results = new ArrayList<>();
        try (Stream<Path> files = Files.walk(resultsDir)) {
            for (Path file : files.filter(path -> path.getFileName().toString().matches("torch-peer-.*\\.json"))
                    .sorted(Comparator.comparing(Path::toString)).toList()) {
                results.addAll(read(file));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list " + resultsDir, e);
        }
        return results;
    }

    static List<PyTorchResult> read(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        List<PyTorchResult> results = new ArrayList<>();
        root.path("methods").properties().forEach(method -> {
            JsonNode seconds = method.getValue().path("seconds_median");
            if (seconds.isNumber()) {
                results.add(new PyTorchResult(file, root.path("inventory").asText("unknown"), root.path("bytes").asLong(),
                        method.getKey(), seconds.asDouble()));
            }
        });
        return results;
    }
}
