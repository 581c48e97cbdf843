package io.github.panamanccl.sync;

/** The sender refused a receiver's join (or the receiver refused the sender's plan). */
public final class JoinRejectedException extends SyncException {
    private static final long serialVersionUID = 1L;

    /** Why a join was refused. */
    public enum Reason {
        /** The shared token did not match. */
        WRONG_TOKEN,
        /** The receiver expects a different plan fingerprint than the sender's plan. */
        PLAN_MISMATCH,
        /** All receiver places of the group are taken. */
        GROUP_FULL,
        /** A malformed or oversize handshake. */
        PROTOCOL,
        /** The sender is shutting down. */
        CLOSED
    }

    private final Reason reason;

    JoinRejectedException(Reason reason, String message) {
        super("join rejected (" + reason + "): " + message);
        this.reason = reason;
    }

    /** Why the join was refused. */
    public Reason reason() {
        return reason;
    }
}
