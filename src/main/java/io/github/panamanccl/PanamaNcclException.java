package io.github.panamanccl;

/** Base of every unchecked exception thrown by panama-nccl. */
public class PanamaNcclException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * A failure without an underlying exception.
     *
     * @param message what failed and why
     */
    public PanamaNcclException(String message) {
        super(message);
    }

    /**
     * A failure caused by another exception.
     *
     * @param message what failed and why
     * @param cause   the underlying failure
     */
    public PanamaNcclException(String message, Throwable cause) {
        super(message, cause);
    }
}
