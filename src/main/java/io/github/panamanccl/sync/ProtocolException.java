package io.github.panamanccl.sync;

/** A control-plane peer sent something malformed: bad magic, unknown message, a field out of range. */
public class ProtocolException extends SyncException {
    private static final long serialVersionUID = 1L;

    ProtocolException(String message) {
        super(message);
    }

    ProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
