package io.github.panamanccl.sync;

import io.github.panamanccl.PanamaNcclException;

/** Base of every failure reported by the weight-sync layer (unchecked). */
public class SyncException extends PanamaNcclException {
    private static final long serialVersionUID = 1L;

    public SyncException(String message) {
        super(message);
    }

    public SyncException(String message, Throwable cause) {
        super(message, cause);
    }
}
