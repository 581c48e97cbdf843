package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/** Bad arguments end with exit code 2, a one-line error naming the problem, then the usage. */
class BadArgumentsTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "--frobnicate                 | --frobnicate",
        "demo --receivers 0           | --receivers",
        "demo --receivers many        | many",
        "demo --versions 0            | --versions",
        "demo --bucket-size 12XB      | 12XB",
        "demo --bucket-size 100       | --bucket-size",
        "demo --bucket-size 64M       | 64MiB",
        "demo --scale 2               | --scale",
        "demo --scale half            | half",
        "demo --transport carrier-pigeon | carrier-pigeon",
        "demo extra-argument          | extra-argument",
        "info --verbose-please        | --verbose-please",
    })
    void badArgumentsGiveOneLineErrorThenUsageAndExitTwo(String arguments, String named) {
        CommandLineRun run = CommandLineRun.of(arguments.trim().split("\\s+"));

        assertEquals(2, run.exitCode(), run.err());
        String firstLine = run.errLines().getFirst();
        assertTrue(firstLine.startsWith("error: "), firstLine);
        assertTrue(firstLine.contains(named), () -> "error should name '" + named + "': " + firstLine);
        assertTrue(run.errLines().get(1).startsWith("Usage: "), run.err());
        assertEquals("", run.out());
    }

    @Test
    void missingCommandIsABadArgument() {
        CommandLineRun run = CommandLineRun.of();

        assertEquals(2, run.exitCode());
        assertTrue(run.errLines().getFirst().contains("missing command"), run.err());
        assertTrue(run.err().contains("demo") && run.err().contains("info"), run.err());
    }

    @Test
    void helpIsNotAnError() {
        CommandLineRun run = CommandLineRun.of("demo", "--help");

        assertEquals(0, run.exitCode());
        assertTrue(run.out().contains("--bucket-size"), run.out());
        assertEquals("", run.err());
    }

    @Test
    void versionPrintsThisBuildsVersionAndTheJdk() {
        for (String option : new String[] {"-V", "--version"}) {
            CommandLineRun run = CommandLineRun.of(option);

            assertEquals(0, run.exitCode(), run.err());
            assertEquals(java.util.List.of("panama-nccl " + System.getProperty("panamanccl.test.version"),
                    "JDK " + Runtime.version()), run.out().lines().toList());
            assertEquals("", run.err());
        }
    }
}
