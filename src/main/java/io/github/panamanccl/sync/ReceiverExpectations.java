package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

/**
 * What a receiver requires of the sender's plan before it takes its place, checked at join in one place: so far, the
 * memory its buffers may take ({@link WeightReceiver.Builder#maxBufferBytes}). Immutable; the builder keeps the
 * current one.
 *
 * @param maxBufferBytes the most the buffers may take; {@link #DEFAULT_BUFFER_BUDGET} for the default
 */
record ReceiverExpectations(long maxBufferBytes) {
    static final ReceiverExpectations NONE = new ReceiverExpectations(-1);
    /** {@link #maxBufferBytes} meaning: twice the plan's tensor bytes plus {@link #PADDING_ALLOWANCE}. */
    static final long DEFAULT_BUFFER_BUDGET = -1;
    /** What the default budget allows beyond twice the tensors, for the padding of tiny or very aligned plans. */
    static final long PADDING_ALLOWANCE = 16L << 20;

    ReceiverExpectations withMaxBufferBytes(long value) {
        return new ReceiverExpectations(Arguments.atLeast("maxBufferBytes", value, 0L));
    }

    /**
     * Checks that the buffers {@code mode} needs for {@code offered} fit the budget. Run after the plan was matched
     * to the destinations, so that its tensors are this receiver's own whenever it has any.
     *
     * @throws ProtocolException naming the plan's sizes, the budget and the option that raises it
     */
    void checkBudget(BucketPlan offered, CommitMode mode) {
        long needed = bufferBytes(offered, mode);
        long budget = maxBufferBytes != DEFAULT_BUFFER_BUDGET ? maxBufferBytes
                : saturatedSum(2 * offered.totalTensorBytes(), PADDING_ALLOWANCE);
        if (needed > budget) {
            throw new ProtocolException("the sender's plan needs " + needed + " bytes of " + mode + " receive buffers ("
                    + sizes(offered) + "), over this receiver's limit of " + budget + " bytes ("
                    + (maxBufferBytes == DEFAULT_BUFFER_BUDGET ? "by default twice the tensor bytes plus "
                    + PADDING_ALLOWANCE + " for padding; " : "") + "raise it with maxBufferBytes(...))");
        }
    }

    /** Bytes the receive pipeline of {@code mode} allocates for {@code plan}: a staging area, or two bucket buffers. */
    static long bufferBytes(BucketPlan plan, CommitMode mode) {
        return switch (mode) {
            case STAGED -> plan.totalBucketBytes();
            case IN_PLACE -> Math.min(2, plan.bucketCount()) * plan.maxBucketByteSize();
        };
    }

    /** The plan's sizes, for messages about its buffers. */
    static String sizes(BucketPlan plan) {
        return plan.bucketCount() + " buckets, " + plan.totalBucketBytes() + " bytes, the largest "
                + plan.maxBucketByteSize() + ", for " + plan.totalTensorBytes() + " bytes of tensors";
    }

    private static long saturatedSum(long a, long b) {
        return a < 0 || a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    /** This receiver turns the sender's plan down: {@code message} says why. */
    static JoinRejectedException mismatch(String message) {
        return new JoinRejectedException(FailureReason.PLAN_MISMATCH, "this receiver declines the plan: " + message);
    }
}
