package io.github.panamanccl.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;

import io.github.panamanccl.bucket.Inventory;

/**
 * The model inventories bundled with the command line (resources of this module, described in
 * {@code inventories/README.md} next to them): the demo's default models, also read by the benchmarks.
 */
public final class ModelInventories {
    private static final List<String> NAMES = List.of("qwen3-30b-a3b", "qwen3-next-80b-a3b");

    private ModelInventories() {
    }

    /** Names of the bundled inventories. */
    public static List<String> names() {
        return NAMES;
    }

    /**
     * A bundled inventory: {@code qwen3-30b-a3b} (18 867 tensors) or {@code qwen3-next-80b-a3b} (74 391 tensors).
     *
     * @throws IllegalArgumentException for another name
     */
    public static Inventory load(String name) {
        if (!NAMES.contains(name)) {
            throw new IllegalArgumentException("no bundled inventory '" + name + "'; known: " + NAMES);
        }
        String resource = "inventories/" + name + ".tsv";
        try (InputStream in = ModelInventories.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("resource " + resource + " missing from " + ModelInventories.class.getModule());
            }
            return Inventory.read(in, name);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }
}
