package io.github.panamanccl.cli;

import java.io.PrintWriter;
import java.time.Duration;
import java.util.Comparator;
import java.util.Locale;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.Inventory;

/**
 * The {@code demo} run: picks the transport, starts a sender and receivers, pushes each version bucketed, then
 * the same model per tensor, verifies every tensor on every receiver after each sync, and prints the table.
 * Exit code 0 when every sync verified, 1 otherwise.
 */
final class WeightSyncDemo {
    /** Bound of every join, update and per-tensor sync: generous, but a hung peer still ends the demo. */
    static final Duration DEADLINE = Duration.ofMinutes(5);

    private final DemoSettings settings;
    private final PrintWriter out;
    private final boolean outputIsTerminal;

    WeightSyncDemo(DemoSettings settings, PrintWriter out, boolean outputIsTerminal) {
        this.settings = settings;
        this.out = out;
        this.outputIsTerminal = outputIsTerminal;
    }

    int run() {
        TransportDecision decision = TransportDecision.decide(settings.transport(), settings.receivers() + 1);
        describeModel();
        out.println(decision.nccl()
                ? "transport: NCCL, sender on GPU 0, receiver r on GPU r, in this process"
                : "transport: host-tcp over loopback, in this process"
                        + decision.reason().map(reason -> " (NCCL not used: " + reason + ")").orElse(""));
        out.println("ranks:     1 sender + " + settings.receivers() + " receiver(s), each with its own copy of every tensor;"
                + " receivers commit in place");
        ResultTable table = new ResultTable();
        boolean allVerified = true;
        long bucketBytes = settings.bucketBytesFor(decision.nccl());
        try (DemoCluster cluster = decision.nccl()
                ? NcclCluster.start(settings.model().tensors(), bucketBytes, settings.receivers(), DEADLINE)
                : LoopbackCluster.start(settings.model().tensors(), bucketBytes, settings.receivers(), DEADLINE)) {
            describePlan(cluster.plan(), decision.nccl());
            for (long version = 1; version <= settings.versions(); version++) {
                int[] expected = cluster.fillSender(version);
                DemoCluster.SyncResult result = cluster.syncBucketed(version, progress("v" + version + " bucketed"));
                allVerified &= record(table, "bucketed", result, cluster.verify(expected), cluster);
            }
            if (settings.perTensor()) {
                long version = settings.versions() + 1L;
                int[] expected = cluster.fillSender(version);
                DemoCluster.SyncResult result = cluster.syncPerTensor(version, progress("v" + version + " per-tensor"));
                allVerified &= record(table, "per-tensor", result, cluster.verify(expected), cluster);
            }
        }
        out.println();
        table.print(out);
        compare(table);
        out.flush();
        return allVerified ? 0 : 1;
    }

    private void describeModel() {
        Inventory original = settings.original();
        Inventory model = settings.model();
        String scaling = model.totalBytes() == original.totalBytes() ? "not scaled"
                : String.format(Locale.ROOT, "scaled to %s (1/%.0f of the bytes; every tensor kept)",
                        ByteSizeConverter.format(model.totalBytes()), (double) original.totalBytes() / model.totalBytes());
        out.println("model:     " + original.source() + ": " + original.size() + " tensors, "
                + ByteSizeConverter.format(original.totalBytes()) + ", " + scaling);
    }

    private void describePlan(BucketPlan plan, boolean nccl) {
        String chosen = settings.bucketBytes().isPresent() ? ""
                : nccl ? " (the NCCL default, not measured yet; --bucket-size to choose)"
                        : " (the host transport's default, its fastest measured; --bucket-size to choose)";
        out.println("plan:      " + plan.bucketCount() + " bucket(s) of up to " + ByteSizeConverter.format(plan.bucketCapBytes())
                + chosen + ", " + plan.tensorCount() + " tensors in " + plan.pieceCount() + " pieces, aligned to "
                + plan.alignment() + " B, fingerprint " + plan.fingerprint().substring(0, 16));
    }

    private DemoCluster.Progress progress(String label) {
        if (!settings.progress()) {
            return DemoCluster.Progress.NONE;
        }
        ProgressBar bar = ProgressBar.forOutput(out, outputIsTerminal);
        return (done, total) -> bar.update(label, done, total);
    }

    private boolean record(ResultTable table, String mode, DemoCluster.SyncResult result,
                           DemoCluster.Verification verification, DemoCluster cluster) {
        table.add(new ResultTable.Row(mode, result.version(), result.bytes(), cluster.plan().tensorCount(),
                result.buckets(), result.collectiveCalls(), result.seconds(), verification.receiversVerified(),
                verification.receivers()));
        String verdict = verification.complete()
                ? "verified " + cluster.plan().tensorCount() + " tensors on " + verification.receivers() + "/"
                        + verification.receivers() + " receivers (CRC32C against the sender)"
                : "VERIFICATION FAILED on " + (verification.receivers() - verification.receiversVerified()) + " receiver(s);"
                        + " first mismatching tensor: " + verification.firstMismatch().orElse("?");
        out.printf(Locale.ROOT, "v%d %s: %.3f s, %s%n", result.version(), mode, result.seconds(), verdict);
        out.flush();
        return verification.complete();
    }

    /** Speed-up of the fastest bucketed sync over the per-tensor sync of the same model on the same transport. */
    private void compare(ResultTable table) {
        var bucketed = table.rows().stream().filter(row -> row.mode().equals("bucketed"))
                .min(Comparator.comparingDouble(ResultTable.Row::seconds));
        var perTensor = table.rows().stream().filter(row -> row.mode().equals("per-tensor")).findFirst();
        if (bucketed.isPresent() && perTensor.isPresent()) {
            out.printf(Locale.ROOT, "%nspeed-up of bucketed over per-tensor: %.2fx (best bucketed version %.3f s in %d calls;"
                            + " per tensor %.3f s in %d calls; same transport, same tensors)%n",
                    perTensor.get().seconds() / bucketed.get().seconds(), bucketed.get().seconds(),
                    bucketed.get().collectiveCalls(), perTensor.get().seconds(), perTensor.get().collectiveCalls());
        }
    }
}
