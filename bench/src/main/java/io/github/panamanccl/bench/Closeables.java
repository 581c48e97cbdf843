package io.github.panamanccl.bench;

/** Tearing down what a benchmark trial set up, part of which may not exist when its setUp failed half way. */
final class Closeables {
    private Closeables() {
    }

    /**
     * Closes each resource in order, null ones (and a null array) skipped; every one is closed even when one fails,
     * and the first failure is then thrown with the later ones suppressed.
     */
    static void closeAll(AutoCloseable... resources) {
        if (resources == null) {
            return;
        }
        RuntimeException first = null;
        for (AutoCloseable resource : resources) {
            if (resource == null) {
                continue;
            }
            try {
                resource.close();
            } catch (Exception e) {
                RuntimeException failure = e instanceof RuntimeException r ? r
                        : new IllegalStateException("closing " + resource + " failed", e);
                if (first == null) {
                    first = failure;
                } else {
                    first.addSuppressed(failure);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
