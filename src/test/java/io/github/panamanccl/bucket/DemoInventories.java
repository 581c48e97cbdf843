package io.github.panamanccl.bucket;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The real model inventories, for tests that plan whole models. They ship with the command line
 * (cli/src/main/resources), which the library's test class path includes (src/pom.xml); the GPU run has the cli
 * jar on its class path.
 */
final class DemoInventories {
    private DemoInventories() {
    }

    /** {@code qwen3-30b-a3b} or {@code qwen3-next-80b-a3b}. */
    static Inventory load(String name) {
        String resource = "/io/github/panamanccl/cli/inventories/" + name + ".tsv";
        try (InputStream in = DemoInventories.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException(resource + " is not on the test class path (cli/src/main/resources)");
            }
            return Inventory.read(in, name);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }
}
