package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The demo end to end, in-process, over the host transport, on a model small enough for a unit test. */
@Timeout(120)
class DemoCommandTest {
    private static final Pattern ROW = Pattern.compile(
            "^(bucketed|per-tensor)\\s+(\\d+)\\s+\\S+ \\S+\\s+(\\d+)\\s+(\\S+)\\s+(\\d+)\\s+(\\S+)\\s+(\\S+)\\s+(\\d+)/(\\d+)$");

    @Test
    void syncsEveryTensorOfTheScaledInventoryVerifiesItAndPrintsTheTable() {
        CommandLineRun run = CommandLineRun.of("demo", "--scale", "0.0005", "--bucket-size", "1MiB", "--receivers", "2",
                "--versions", "2", "--transport", "host", "--no-progress");

        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertTrue(run.out().contains("qwen3-30b-a3b: 18867 tensors"), run.out());
        List<Matcher> rows = rows(run.out());
        assertEquals(List.of("bucketed", "bucketed", "per-tensor"), rows.stream().map(row -> row.group(1)).toList());
        for (Matcher row : rows) {
            assertEquals("18867", row.group(3), "every tensor of the inventory is kept: " + row.group());
            assertEquals("2", row.group(8), "both receivers verified: " + row.group());
            assertTrue(Double.parseDouble(row.group(6)) > 0, "seconds: " + row.group());
        }
        Matcher bucketed = rows.getFirst();
        int buckets = Integer.parseInt(bucketed.group(4));
        assertTrue(buckets > 1, "a 1 MiB cap splits the model: " + bucketed.group());
        assertEquals(buckets, Integer.parseInt(bucketed.group(5)), "one collective call per bucket");
        assertEquals("18867", rows.getLast().group(5), "one collective call per tensor");
        assertEquals(3, run.out().lines().filter(line -> line.contains("verified 18867 tensors on 2/2 receivers")).count(),
                run.out());
        assertTrue(run.out().contains("speed-up of bucketed over per-tensor"), run.out());
    }

    @Test
    void withoutOptionsTheHostTransportPlansItsMeasuredBucketSizeAndALogGetsProgressLines() {
        CommandLineRun run = CommandLineRun.of("demo", "--scale", "0.0005", "--receivers", "1", "--versions", "1",
                "--transport", "host", "--no-per-tensor");

        assertEquals(0, run.exitCode(), run.out() + run.err());
        assertTrue(run.out().contains("bucket(s) of up to 4.00 MiB (the host transport's default, its fastest measured;"),
                run.out());
        assertFalse(run.out().contains("\r"), "no carriage returns when the output is not a terminal");
        assertTrue(run.out().lines().anyMatch(line -> line.matches("\\[#{30}] 100%  .* / .*  v1 bucketed")), run.out());
    }

    @Test
    void readsAnInventoryFileAndSkipsThePerTensorSyncWhenAsked(@TempDir Path directory) throws IOException {
        Path inventory = directory.resolve("tiny.tsv");
        Files.writeString(inventory, """
                # a mixed-dtype model
                name\tdtype\tshape
                embed.weight\tbfloat16\t64,32
                layer.0.bias\tfloat32\t7
                layer.0.weight\tfloat16\t33,5
                norm.scale\tfloat32\t
                """);

        CommandLineRun run = CommandLineRun.of("demo", "--inventory", inventory.toString(), "--bucket-size", "4KiB",
                "--receivers", "1", "--versions", "3", "--no-per-tensor", "--no-progress");

        assertEquals(0, run.exitCode(), run.out() + run.err());
        List<Matcher> rows = rows(run.out());
        assertEquals(List.of("1", "2", "3"), rows.stream().map(row -> row.group(2)).toList());
        rows.forEach(row -> assertEquals("4", row.group(3), row.group()));
        rows.forEach(row -> assertEquals("1", row.group(8), row.group()));
        assertTrue(run.out().contains("not scaled"), run.out());
    }

    @Test
    void aMissingInventoryFileIsABadArgument(@TempDir Path directory) {
        CommandLineRun run = CommandLineRun.of("demo", "--inventory", directory.resolve("absent.tsv").toString());

        assertEquals(2, run.exitCode());
        assertTrue(run.errLines().getFirst().contains("absent.tsv"), run.err());
    }

    @Test
    void aMalformedInventoryFileIsABadArgumentNamingTheProblem(@TempDir Path directory) throws IOException {
        Path inventory = directory.resolve("bad.tsv");
        Files.writeString(inventory, "name\tdtype\tshape\nw\tcomplex128\t3\n");

        CommandLineRun run = CommandLineRun.of("demo", "--inventory", inventory.toString());

        assertEquals(2, run.exitCode());
        assertTrue(run.errLines().getFirst().contains("complex128"), run.err());
    }

    @Test
    void ncclRequestedWhereItCannotRunFailsWithTheReason() {
        CommandLineRun run = CommandLineRun.of("demo", "--scale", "0.0005", "--transport", "nccl", "--no-progress");

        assertEquals(1, run.exitCode(), run.out() + run.err());
        assertTrue(run.err().startsWith("error: --transport nccl cannot run here: "), run.err());
    }

    private static List<Matcher> rows(String out) {
        return out.lines().map(ROW::matcher).filter(Matcher::matches).toList();
    }
}
