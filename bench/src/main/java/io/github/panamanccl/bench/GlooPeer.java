package io.github.panamanccl.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs bench/host/gloo_peer.py, the torch.distributed gloo side of the host comparison, as a child process tree that
 * never outlives its time box. Without a python whose torch has gloo, every run is skipped with the reason.
 */
final class GlooPeer {
    /**
     * Beyond the peer's budget: its start-up, allocation and warm-ups (it allows itself 45 s for them) and the
     * sync that may still run when the budget ends.
     */
    private static final Duration SLACK = Duration.ofSeconds(75);

    private final String python;
    private final Path script;
    private final PrintStream out;
    private Optional<String> unavailable;

    GlooPeer(String python, Path script, PrintStream out) {
        this.python = python;
        this.script = script;
        this.out = out;
    }

    /**
     * Runs one part; returns a one-line outcome: {@code "ran"}, or why nothing (or not everything) was measured.
     * The peer writes {@code resultFile} only when it measured every inventory.
     */
    String run(List<Path> inventories, HostComparisonPlan.GlooPart part, int modelMiB, Path resultFile) throws InterruptedException {
        Optional<String> why = whyUnavailable();
        if (why.isPresent()) {
            out.println("gloo peer skipped: " + why.get());
            return "skipped: " + why.get();
        }
        List<String> command = new ArrayList<>(List.of(python, script.toString(), "--receivers", String.valueOf(part.receivers()),
                "--model-mib", String.valueOf(modelMiB), "--repeat", String.valueOf(part.repeat()),
                "--time-budget", String.valueOf(part.budget().toSeconds()), "--out", resultFile.toString()));
        for (Path inventory : inventories) {
            command.add("--inventory");
            command.add(inventory.toString());
        }
        Duration timeBox = part.budget().plus(SLACK);
        out.println("gloo peer, " + part.receivers() + " receivers, tensors " + part.tensors() + " (at most " + timeBox.toSeconds()
                + " s)");
        try {
            Process process = new ProcessBuilder(command).inheritIO().start();
            if (!process.waitFor(timeBox.toMillis(), TimeUnit.MILLISECONDS)) {
                destroyTree(process);
                return "failed: did not finish within " + timeBox.toSeconds() + " s (killed)";
            }
            return process.exitValue() == 0 ? "ran" : "failed: exit status " + process.exitValue() + " (its output says why)";
        } catch (IOException e) {
            return "failed: cannot start " + python + ": " + e.getMessage();
        }
    }

    /** Why the peer cannot run here, checked once: no python, or no torch with gloo in it. */
    Optional<String> whyUnavailable() throws InterruptedException {
        if (unavailable == null) {
            unavailable = probe();
        }
        return unavailable;
    }

    private Optional<String> probe() throws InterruptedException {
        if (!Files.isRegularFile(script)) {
            return Optional.of(script + " not found (run from the repository root)");
        }
        try {
            Path output = Files.createTempFile("gloo-probe-", ".txt");
            try {
                Process process = new ProcessBuilder(python, "-c",
                        "import torch.distributed as d, sys; sys.exit(0 if d.is_available() and d.is_gloo_available() else 3)")
                        .redirectErrorStream(true).redirectOutput(output.toFile()).start();
                if (!process.waitFor(2, TimeUnit.MINUTES)) {
                    destroyTree(process);
                    return Optional.of(python + " did not import torch within 2 minutes");
                }
                if (process.exitValue() != 0) {
                    String last = Files.readAllLines(output, StandardCharsets.UTF_8).stream().reduce((a, b) -> b)
                            .orElse("exit status " + process.exitValue());
                    return Optional.of(python + " has no torch.distributed with gloo (" + last
                            + "); bench/host/compare.sh installs Debian's python3-torch");
                }
                return Optional.empty();
            } finally {
                Files.deleteIfExists(output);
            }
        } catch (IOException e) {
            return Optional.of("cannot start " + python + ": " + e.getMessage());
        }
    }

    private static void destroyTree(Process process) throws InterruptedException {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }
}
