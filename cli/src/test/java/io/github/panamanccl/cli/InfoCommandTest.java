package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class InfoCommandTest {
    @Test
    void printsTheSystemReport() {
        CommandLineRun run = CommandLineRun.of("info");

        assertEquals(0, run.exitCode(), run.err());
        assertTrue(run.out().startsWith("panama-nccl system report"), run.out());
        assertTrue(run.out().contains("JDK: " + Runtime.version()), run.out());
        assertTrue(run.out().contains("libcudart.so.13"), run.out());
        assertTrue(run.out().contains("libnccl.so.2"), run.out());
        assertTrue(run.out().contains("Devices: "), run.out());
        assertEquals("", run.err());
    }
}
