package io.github.panamanccl.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.LibraryStatus;
import io.github.panamanccl.Nccl;
import io.github.panamanccl.NativeLibraries;
import io.github.panamanccl.NativeLibrary;
import io.github.panamanccl.NcclVersion;
import io.github.panamanccl.PanamaNcclException;

/**
 * What a benchmark result depends on: date, machine (CPU model, cores, memory, GPUs), JDK, CUDA runtime and
 * driver versions, NCCL version ("absent" when a library is not found), plus the C baseline of the downcall
 * benchmark measured by bench/native's standalone program. Written as JSON next to JMH's result file.
 */
record RunMetadata(Map<String, Object> fields) {
    static final String ABSENT = "absent";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    static Path metadataPathFor(Path resultFile) {
        String name = resultFile.getFileName().toString();
        String stem = name.endsWith(".json") ? name.substring(0, name.length() - ".json".length()) : name;
        return resultFile.resolveSibling(stem + ".meta.json");
    }

    static RunMetadata collect(List<String> jmhArgs) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("date", ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME));
        fields.put("jmhArgs", jmhArgs);
        fields.put("loadAverage", HostComparison.loadAverage());
        fields.put("machine", machine());
        fields.put("jdk", Map.of(
                "version", System.getProperty("java.runtime.version"),
                "vendor", System.getProperty("java.vendor"),
                "vm", System.getProperty("java.vm.name")));
        fields.put("cuda", cuda());
        fields.put("nccl", nccl());
        fields.put("downcallLoopProgram", downcallLoopProgram());
        return new RunMetadata(fields);
    }

    /** These fields and {@code key} (replaced if present). */
    RunMetadata with(String key, Object value) {
        Map<String, Object> more = new LinkedHashMap<>(fields);
        more.put(key, value);
        return new RunMetadata(more);
    }

    static JsonNode read(Path metadataFile) {
        try {
            return JSON.readTree(metadataFile.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + metadataFile, e);
        }
    }

    void write(Path file) {
        try {
            if (file.getParent() != null) {
                Files.createDirectories(file.getParent());
            }
            JSON.writeValue(file.toFile(), fields);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    private static Map<String, Object> machine() {
        Map<String, Object> machine = new LinkedHashMap<>();
        machine.put("cpuModel", procField(Path.of("/proc/cpuinfo"), "model name").orElse("unknown"));
        machine.put("logicalCpus", Runtime.getRuntime().availableProcessors());
        machine.put("memTotal", procField(Path.of("/proc/meminfo"), "MemTotal").orElse("unknown"));
        machine.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                + System.getProperty("os.arch"));
        machine.put("gpus", run("nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader")
                .map(String::lines).map(Stream::toList).orElse(List.of()));
        return machine;
    }

    private static Map<String, Object> cuda() {
        Map<String, Object> cuda = new LinkedHashMap<>();
        LibraryStatus status = NativeLibraries.status(NativeLibrary.CUDART);
        if (!status.available()) {
            cuda.put("runtime", ABSENT);
            cuda.put("cause", status.cause());
            return cuda;
        }
        cuda.put("library", status.path().map(Path::toString).orElse("unknown"));
        cuda.put("runtimeVersion", Cuda.runtimeVersion());
        cuda.put("driverVersion", Cuda.driverVersion());
        try {
            cuda.put("deviceCount", Cuda.deviceCount());
        } catch (PanamaNcclException noDevice) {
            cuda.put("deviceCount", 0);
            cuda.put("deviceCountError", noDevice.getMessage());
        }
        return cuda;
    }

    private static Object nccl() {
        LibraryStatus status = NativeLibraries.status(NativeLibrary.NCCL);
        if (!status.available()) {
            return ABSENT;
        }
        NcclVersion version = Nccl.version();
        return Map.of("version", version.major() + "." + version.minor() + "." + version.patch(),
                "library", status.path().map(Path::toString).orElse("unknown"));
    }

    /** Output of bench/native's downcall_loop program (JSON), or why it could not run. */
    private static Object downcallLoopProgram() {
        LibraryStatus status = NativeLibraries.status(NativeLibrary.CUDART);
        if (!status.available()) {
            return ABSENT;
        }
        String program = BenchNative.artefact("downcall_loop").toString();
        String cudart = status.path().map(Path::toString).orElse(NativeLibrary.CUDART.soname());
        return run(program, cudart, "20000000", "5")
                .<Object>map(output -> {
                    try {
                        return JSON.readTree(output);
                    } catch (IOException e) {
                        return output;
                    }
                })
                .orElse("failed to run " + program);
    }

    private static Optional<String> procField(Path file, String key) {
        try (Stream<String> lines = Files.lines(file)) {
            return lines.filter(line -> line.startsWith(key))
                    .map(line -> line.substring(line.indexOf(':') + 1).trim())
                    .findFirst();
        } catch (IOException | UncheckedIOException e) {
            return Optional.empty();
        }
    }

    private static Optional<String> run(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            boolean finished = process.waitFor(2, TimeUnit.MINUTES);
            return finished && process.exitValue() == 0 ? Optional.of(output) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
