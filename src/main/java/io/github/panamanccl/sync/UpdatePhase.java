package io.github.panamanccl.sync;

/** Where an update stood when it failed; the states of the sender's update, in order. */
public enum UpdatePhase {
    /** The sender waits until every receiver place is taken. */
    AWAITING_RECEIVERS("while the sender waited for receivers"),
    /** The transport group is being formed (skipped when the previous update's group is reused). */
    FORMING_GROUP("while the transport group formed"),
    /** BEGIN was sent; every receiver must answer READY. */
    ANNOUNCING("while the update was announced"),
    /** Buckets are being broadcast. */
    TRANSFER("during the transfer"),
    /** A receiver applies what it received (staged: every bucket, after all arrived). */
    COMMITTING("while the receiver committed"),
    /** The sender waits for every receiver's acknowledgement. */
    ACKNOWLEDGING("while the sender waited for acknowledgements");

    private final String description;

    UpdatePhase(String description) {
        this.description = description;
    }

    /** E.g. "during the transfer". */
    String description() {
        return description;
    }
}
