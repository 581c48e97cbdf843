package io.github.panamanccl.cli;

import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.concurrent.Callable;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.PlanFormatException;

import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code demo}: a complete weight sync of a synthetic model from one sender to receivers, verified and timed. */
@Command(name = "demo",
        mixinStandardHelpOptions = true,
        description = "Syncs a synthetic model (every tensor of the inventory, bytes scaled to fit this machine) from a"
                + " sender to receivers: bucketed, then per tensor for comparison; verifies every tensor by checksum.")
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @ParentCommand
    Main main;

    @Option(names = "--inventory", paramLabel = "NAME|FILE", defaultValue = "qwen3-30b-a3b",
            description = "Bundled inventory (qwen3-30b-a3b, qwen3-next-80b-a3b) or an inventory file. Default: ${DEFAULT-VALUE}.")
    String inventory;

    @Option(names = "--scale", paramLabel = "FRACTION|auto", defaultValue = "auto",
            description = "Fraction of the inventory's bytes to allocate (every tensor is kept, each at least one element);"
                    + " auto fits the machine. Default: ${DEFAULT-VALUE}.")
    String scale;

    @Option(names = "--bucket-size", paramLabel = "SIZE|auto", defaultValue = "auto", converter = BucketSize.class,
            description = "Bucket capacity: a size (4MiB, 1.5GiB binary; 64MB decimal) or auto: "
                    + "4 MiB on the host transport (the fastest measured), 256 MiB over NCCL (not measured yet)."
                    + " Default: ${DEFAULT-VALUE}.")
    OptionalLong bucketBytes;

    @Option(names = "--receivers", paramLabel = "N", defaultValue = "2",
            description = "Number of receivers. Default: ${DEFAULT-VALUE}.")
    int receivers;

    @Option(names = "--versions", paramLabel = "N", defaultValue = "2",
            description = "Weight versions pushed one after the other (each with different contents). Default: ${DEFAULT-VALUE}.")
    int versions;

    @Option(names = "--transport", paramLabel = "auto|nccl|host", defaultValue = "auto",
            description = "Transport: auto picks NCCL when a GPU per rank and libnccl are found, else the host transport"
                    + " on loopback. Default: ${DEFAULT-VALUE}.")
    TransportChoice transport;

    @Option(names = "--per-tensor", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Also sync the model one tensor per broadcast, for comparison. Default: on.")
    boolean perTensor;

    @Option(names = "--progress", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Show progress: a bar on a terminal, a line every 2 s otherwise. Default: on.")
    boolean progress;

    @Override
    public Integer call() {
        DemoSettings settings = settings();
        return new WeightSyncDemo(settings, spec.commandLine().getOut(), main.outputIsTerminal()).run();
    }

    DemoSettings settings() {
        if (receivers < 1 || receivers > DemoSettings.MAX_RECEIVERS) {
            throw bad("--receivers must be between 1 and " + DemoSettings.MAX_RECEIVERS + ", got " + receivers);
        }
        if (versions < 1 || versions > DemoSettings.MAX_VERSIONS) {
            throw bad("--versions must be between 1 and " + DemoSettings.MAX_VERSIONS + ", got " + versions);
        }
        if (bucketBytes.isPresent() && bucketBytes.getAsLong() < DemoSettings.MIN_BUCKET_BYTES) {
            throw bad("--bucket-size must be at least " + ByteSizeConverter.format(DemoSettings.MIN_BUCKET_BYTES)
                    + ", got " + bucketBytes.getAsLong() + " bytes");
        }
        Inventory original = loadInventory();
        OptionalDouble fraction = parseScale();
        long budget = fraction.isPresent()
                ? (long) Math.ceil(original.totalBytes() * fraction.getAsDouble())
                : ModelBudget.autoBytesPerRank(receivers + 1);
        Inventory model;
        try {
            model = original.scaledToFit(budget);
        } catch (IllegalArgumentException tooSmall) {
            throw bad("--scale " + scale + " leaves " + budget + " bytes, too few to keep every tensor: " + tooSmall.getMessage());
        }
        return new DemoSettings(original, model, bucketBytes, receivers, versions, transport, perTensor, progress);
    }

    /** A bundled inventory by name, else an inventory file. */
    private Inventory loadInventory() {
        if (ModelInventories.names().contains(inventory)) {
            return ModelInventories.load(inventory);
        }
        Path file = Path.of(inventory);
        if (!Files.isRegularFile(file)) {
            throw bad("--inventory '" + inventory + "' is neither a bundled inventory " + ModelInventories.names()
                    + " nor a readable file");
        }
        try {
            Inventory loaded = Inventory.load(file);
            if (loaded.size() == 0) {
                throw bad("--inventory '" + inventory + "' lists no tensors");
            }
            return loaded;
        } catch (PlanFormatException | UncheckedIOException malformed) {
            throw bad("--inventory '" + inventory + "': " + malformed.getMessage());
        }
    }

    /** Empty when auto. */
    private OptionalDouble parseScale() {
        if (scale.equalsIgnoreCase("auto")) {
            return OptionalDouble.empty();
        }
        double fraction;
        try {
            fraction = Double.parseDouble(scale);
        } catch (NumberFormatException notANumber) {
            throw bad("--scale must be a fraction in (0, 1] or auto, got '" + scale + "'");
        }
        if (!(fraction > 0 && fraction <= 1)) {
            throw bad("--scale must be a fraction in (0, 1] or auto, got '" + scale + "'");
        }
        return OptionalDouble.of(fraction);
    }

    private ParameterException bad(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** {@code --bucket-size}: a byte size, or {@code auto} (empty). */
    static final class BucketSize implements ITypeConverter<OptionalLong> {
        @Override
        public OptionalLong convert(String value) {
            return value.equalsIgnoreCase("auto") ? OptionalLong.empty() : OptionalLong.of(ByteSizeConverter.parse(value));
        }
    }
}
