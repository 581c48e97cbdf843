package io.github.panamanccl.sync;

/** The control connection to the peer ended (closed, reset, silent past the I/O timeout, or malformed traffic). */
public final class ConnectionLostException extends SyncException {
    private static final long serialVersionUID = 1L;

    ConnectionLostException(String message, Throwable cause) {
        super(message, cause);
    }
}
