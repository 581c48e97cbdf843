package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench/gpu/abi_check.c, which the GPU run builds against the machine's nccl.h and cuda_runtime_api.h and against our
 * native-headers/, then runs the real build on the output of ours. Here no real nccl.h exists: its comparison is
 * checked against our own declarations posing as an older nccl.h, and against a tampered copy of our output; the
 * CUDA half against the CUDA toolkit's real header where one is installed.
 */
class AbiCheckTest {
    private static final Path SOURCE = Path.of("bench/gpu/abi_check.c");
    private static final Path OURS = Path.of("native-headers").toAbsolutePath();
    private static final Path CUDA_INCLUDE = Path.of("/usr/local/cuda/include");
    private static final List<String> FLAGS = List.of("-std=gnu11", "-Wall", "-Werror",
            "-Werror=incompatible-pointer-types");

    @TempDir
    Path directory;

    @Test
    void ourOutputComparedWithItselfMatchesEveryKey() throws Exception {
        Path ours = build("ours", List.of("-DABI_WITH_NCCL", "-DABI_WITH_CUDA", "-I" + OURS));
        Path expected = write("ours.txt", run(ours).output());

        Result same = run(ours, expected.toString());

        long keys = Files.readAllLines(expected).size();
        assertEquals(0, same.status(), same.output());
        assertTrue(keys > 100, "both halves: " + keys + " keys");
        assertEquals("TOTAL matched=" + keys + " absent=0 mismatched=0", same.lastLine(), same.output());
    }

    @Test
    void aDifferentValueAMissingAndAnUnknownKeyAreMismatchesAndFailTheCheck() throws Exception {
        Path ours = build("ours", List.of("-DABI_WITH_NCCL", "-I" + OURS));
        List<String> tampered = new ArrayList<>(run(ours).output().lines().toList());
        tampered.replaceAll(line -> line.equals("nccl.ncclDataType_t.ncclBfloat16=9")
                ? "nccl.ncclDataType_t.ncclBfloat16=10" : line);
        tampered.removeIf(line -> line.startsWith("nccl.ncclConfig_t.offsetof.blocking="));
        tampered.add("nccl.ncclConfig_t.offsetof.futureField=96");

        Result compared = run(ours, write("tampered.txt", String.join("\n", tampered) + "\n").toString());

        assertEquals(1, compared.status(), compared.output());
        assertTrue(compared.output().contains("MISMATCH nccl.ncclDataType_t.ncclBfloat16 ours=10 real=9\n"),
                compared.output());
        assertTrue(compared.output().contains("MISMATCH nccl.ncclConfig_t.offsetof.blocking ours=(no such key) real=16\n"),
                compared.output());
        assertTrue(compared.output().contains("MISMATCH nccl.ncclConfig_t.offsetof.futureField ours=96 real=(no such key)\n"),
                compared.output());
        assertTrue(compared.lastLine().endsWith(" absent=0 mismatched=3"), compared.lastLine());
    }

    /** The 7 fields a real header of 2.27 lacks and the 2.30 struct size print "absent": reported, not failed. */
    @Test
    void anOlderRealHeaderReportsTheNewerKeysAbsentAndPasses() throws Exception {
        Path ours = build("ours", List.of("-DABI_WITH_NCCL", "-I" + OURS));
        Path expected = write("ours.txt", run(ours).output());
        Path olderHeader = Files.createDirectories(directory.resolve("nccl-2.27"));
        Files.writeString(olderHeader.resolve("nccl.h"), """
                #include "nccl_api.h"
                #define NCCL_VERSION_CODE 22700
                #define NCCL_API_MAGIC NCCL_CONFIG_MAGIC
                """);
        Path real = build("real", List.of("-DABI_WITH_NCCL", "-DABI_HEADERS_REAL", "-I" + olderHeader, "-I" + OURS));

        Result compared = run(real, expected.toString());

        assertEquals(0, compared.status(), compared.output());
        assertTrue(compared.output().startsWith("info.nccl.header.NCCL_VERSION_CODE=22700\n"), compared.output());
        assertTrue(compared.output().contains("ABSENT nccl.ncclConfig_t.offsetof.maxP2pPeers (ours 88; the real header "
                + "is older)\n"), compared.output());
        assertTrue(compared.output().contains("MATCH nccl.ncclConfig_t.offsetof.commName=48\n"), compared.output());
        assertTrue(compared.lastLine().matches("TOTAL matched=\\d+ absent=8 mismatched=0"), compared.lastLine());
    }

    /** The CUDA half as the GPU run does it, against the CUDA toolkit's header (installed here, no driver needed). */
    @Test
    void ourCudaDeclarationsMatchTheInstalledCudaRuntimeHeader() throws Exception {
        assumeTrue(Files.isRegularFile(CUDA_INCLUDE.resolve("cuda_runtime_api.h")), "no CUDA toolkit header here");
        Path ours = build("ours", List.of("-DABI_WITH_CUDA", "-I" + OURS));
        Path real = build("real", List.of("-DABI_WITH_CUDA", "-DABI_HEADERS_REAL", "-I" + CUDA_INCLUDE));

        Result compared = run(real, write("ours.txt", run(ours).output()).toString());

        assertEquals(0, compared.status(), compared.output());
        assertTrue(compared.output().startsWith("info.cuda.header.CUDART_VERSION="), compared.output());
        assertTrue(compared.lastLine().matches("TOTAL matched=\\d+ absent=0 mismatched=0"), compared.lastLine());
        compile(List.of("-DABI_WITH_CUDA", "-DABI_HEADERS_REAL", "-DABI_CHECK_SIGNATURES", "-I" + CUDA_INCLUDE, "-c"),
                directory.resolve("signatures.o"));
    }

    private record Result(int status, String output) {
        String lastLine() {
            List<String> lines = output.lines().toList();
            return lines.isEmpty() ? "" : lines.getLast();
        }
    }

    private Path build(String name, List<String> flags) throws Exception {
        Path program = directory.resolve(name);
        compile(flags, program);
        return program;
    }

    private static void compile(List<String> flags, Path output) throws Exception {
        List<String> command = new ArrayList<>(List.of("gcc"));
        command.addAll(FLAGS);
        command.addAll(flags);
        command.addAll(List.of("-o", output.toString(), SOURCE.toString()));
        Result compiled;
        try {
            compiled = execute(command);
        } catch (IOException noCompiler) {
            assumeTrue(false, "no gcc here: " + noCompiler.getMessage());
            return;
        }
        assertEquals(0, compiled.status(), String.join(" ", command) + "\n" + compiled.output());
    }

    private static Result run(Path program, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(program.toString()));
        command.addAll(List.of(args));
        return execute(command);
    }

    private static Result execute(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " did not finish");
        return new Result(process.exitValue(), output);
    }

    private Path write(String name, String text) throws IOException {
        return Files.writeString(directory.resolve(name), text);
    }
}
