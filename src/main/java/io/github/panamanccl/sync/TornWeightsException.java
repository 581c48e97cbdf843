package io.github.panamanccl.sync;

/** The receiver's weights are a mix of two versions (a failed in-place update); they must not be served. */
public final class TornWeightsException extends SyncException {
    private static final long serialVersionUID = 1L;
    private final ReceiverState.Torn state;

    TornWeightsException(ReceiverState.Torn state) {
        super("weights are TORN: update to version " + state.failedVersion() + " failed after it had started"
                + " writing in place (" + state.cause() + "); they stay unusable until the next successful update");
        this.state = state;
    }

    /** The torn state: the last committed version, the failed one, and why it failed. */
    public ReceiverState.Torn state() {
        return state;
    }
}
