package io.github.panamanccl.bench;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;

/**
 * Entry point of {@code exec:exec@bench}: {@code charts [results dir] [charts dir]} renders the charts;
 * {@code host-compare [options]} runs the host comparison ({@link HostComparison}); {@code gpu-report CLASS_RESULTS_DIR
 * OUT_DIR} merges and reads the GPU run's results ({@link GpuReport}); anything else is passed to JMH,
 * after writing the run's metadata next to the {@code -rff} result file ({@code name.json} gets
 * {@code name.meta.json}).
 */
public final class BenchMain {
    private BenchMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("charts")) {
            Path results = Path.of(args.length > 1 ? args[1] : "bench/results");
            Path charts = Path.of(args.length > 2 ? args[2] : "bench/results/charts");
            ChartRenderer.renderAll(results, charts, System.out);
            return;
        }
        if (args.length > 0 && args[0].equals(GpuReport.COMMAND)) {
            GpuReport.main(Arrays.asList(args).subList(1, args.length), System.out);
            return;
        }
        if (args.length > 0 && args[0].equals(HostComparison.COMMAND)) {
            HostComparison.main(Arrays.asList(args).subList(1, args.length), System.out);
            return;
        }
        Optional<Path> resultFile = resultFile(args);
        if (resultFile.isPresent()) {
            Path metadata = RunMetadata.metadataPathFor(resultFile.get());
            RunMetadata.collect(Arrays.asList(args)).write(metadata);
            System.out.println("run metadata: " + metadata);
        }
        org.openjdk.jmh.Main.main(args);
    }

    /** The value of JMH's -rff option, if given. */
    static Optional<Path> resultFile(String[] args) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("-rff")) {
                return Optional.of(Path.of(args[i + 1]));
            }
        }
        return Optional.empty();
    }
}
