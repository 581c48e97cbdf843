package io.github.panamanccl.bucket;

import java.util.List;

/** Closing several native resources so that one failure neither stops the others nor is lost. */
final class Closers {
    private Closers() {
    }

    /** Runs every closer, even after one throws; returns the first failure with the later ones suppressed, or null. */
    static RuntimeException closeAll(List<Runnable> closers) {
        RuntimeException failure = null;
        for (Runnable closer : closers) {
            try {
                closer.run();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        return failure;
    }
}
