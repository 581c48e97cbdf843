package io.github.panamanccl;

/**
 * An NCCL operation was cut short because {@link NcclCommunicator#abort()} was called, typically from another
 * thread that learned a peer is lost; the communicator has been aborted (ncclCommAbort) and cannot be used any
 * more. Not a timeout: the deadline had not passed. {@link #code()} is the state the operation was in,
 * {@code ncclInProgress}.
 */
public final class NcclAbortedException extends NcclException {
    private static final long serialVersionUID = 1L;

    public NcclAbortedException(String call, int code, String errorName, String errorString) {
        super(call + " was aborted by NcclCommunicator.abort() while it was in progress (state " + errorName + " ("
                + code + ")); the communicator was aborted", call, code, errorName, errorString, "");
    }
}
