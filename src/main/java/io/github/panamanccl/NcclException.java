package io.github.panamanccl;

/**
 * An NCCL call returned an error.
 * The message reads like
 * {@code ncclBroadcast failed: ncclInvalidArgument (4): invalid argument ...; last error: Broadcast : invalid root 3 ...}.
 */
public class NcclException extends PanamaNcclException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int code;
    private final String errorName;
    private final String errorString;
    private final String lastError;

    /**
     * An NCCL failure with the standard message; public so that code above this library (and its tests) can
     * report or simulate one.
     *
     * @param call        the NCCL function that failed, e.g. {@code ncclBroadcast}
     * @param code        its ncclResult_t value
     * @param errorName   the symbolic name, e.g. {@code ncclInvalidArgument}
     * @param errorString ncclGetErrorString of the code
     * @param lastError   ncclGetLastError text, empty when NCCL recorded none
     */
    public NcclException(String call, int code, String errorName, String errorString, String lastError) {
        this(call + " failed: " + errorName + " (" + code + "): " + errorString
                        + (lastError.isEmpty() ? "" : "; last error: " + lastError),
                call, code, errorName, errorString, lastError);
    }

    /**
     * For subclasses that phrase their own message.
     *
     * @param message     the complete message
     * @param call        the NCCL function that failed or was awaited
     * @param code        the ncclResult_t value (for a timeout or abort: the state last seen)
     * @param errorName   the symbolic name of {@code code}
     * @param errorString ncclGetErrorString of the code
     * @param lastError   ncclGetLastError text, empty when NCCL recorded none
     */
    protected NcclException(String message, String call, int code, String errorName, String errorString,
                            String lastError) {
        super(message);
        this.call = call;
        this.code = code;
        this.errorName = errorName;
        this.errorString = errorString;
        this.lastError = lastError;
    }

    /** The NCCL function that failed (or, for a timeout, the one whose completion was awaited). */
    public String call() {
        return call;
    }

    /** The ncclResult_t value. */
    public int code() {
        return code;
    }

    /** The symbolic name; unknown codes read {@code ncclUnknownResult(<code>)}. */
    public String errorName() {
        return errorName;
    }

    /** ncclGetErrorString of the code. */
    public String errorString() {
        return errorString;
    }

    /** ncclGetLastError text at the time of the failure; empty when there was none. */
    public String lastError() {
        return lastError;
    }
}
