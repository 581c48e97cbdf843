package io.github.panamanccl;

/** Base of every unchecked exception thrown by panama-nccl. */
public class PanamaNcclException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public PanamaNcclException(String message) {
        super(message);
    }

    public PanamaNcclException(String message, Throwable cause) {
        super(message, cause);
    }
}
