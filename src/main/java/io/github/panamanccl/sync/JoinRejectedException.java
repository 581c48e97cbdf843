package io.github.panamanccl.sync;

/**
 * The sender refused a receiver's join, or the receiver refused the sender's plan. {@link #reason()} is one of
 * {@link FailureReason#WRONG_TOKEN}, {@link FailureReason#PLAN_MISMATCH}, {@link FailureReason#GROUP_FULL},
 * {@link FailureReason#BUSY} (retry), {@link FailureReason#PROTOCOL} or {@link FailureReason#CLOSED}.
 */
public final class JoinRejectedException extends SyncException {
    private static final long serialVersionUID = 1L;

    private final FailureReason reason;
    private final String detail;

    JoinRejectedException(FailureReason reason, String message) {
        super("join rejected (" + reason + "): " + message + ". " + reason.advice());
        this.reason = reason;
        this.detail = message;
    }

    /** Why the join was refused. */
    public FailureReason reason() {
        return reason;
    }

    /** What was refused, without the reason and the advice: what the other side is told. */
    String detail() {
        return detail;
    }
}
