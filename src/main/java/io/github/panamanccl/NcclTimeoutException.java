package io.github.panamanccl;

import java.time.Duration;

/**
 * An NCCL operation did not finish before its deadline; the communicator has been aborted
 * (ncclCommAbort) and cannot be used any more. {@link #code()} is the state last seen,
 * usually {@code ncclInProgress}.
 */
public final class NcclTimeoutException extends NcclException {
    private static final long serialVersionUID = 1L;

    private final Duration deadline;

    /**
     * Built only by this package, when a wait on a communicator passes its deadline.
     *
     * @param call        the NCCL function (or wait) whose completion was awaited
     * @param deadline    the deadline that passed
     * @param code        the ncclResult_t state last seen
     * @param errorName   its symbolic name
     * @param errorString ncclGetErrorString of the state
     * @param lastError   ncclGetLastError text, empty when NCCL recorded none
     */
    NcclTimeoutException(String call, Duration deadline, int code, String errorName, String errorString,
                                String lastError) {
        super(call + " did not complete within " + deadline + " (last communicator state " + errorName + " (" + code
                        + ")); the communicator was aborted"
                        + (lastError.isEmpty() ? "" : "; last error: " + lastError),
                call, code, errorName, errorString, lastError);
        this.deadline = deadline;
    }

    /** The deadline that passed. */
    public Duration deadline() {
        return deadline;
    }
}
