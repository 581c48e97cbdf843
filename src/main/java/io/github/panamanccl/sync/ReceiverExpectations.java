package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.TensorSpec;

import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * What a receiver requires of the sender's plan before it takes its place, checked at join in one place: the
 * tensors it expects ({@link WeightReceiver.Builder#expectInventory(List)}, names, dtypes, shapes and order) or their
 * fingerprint ({@link WeightReceiver.Builder#expectInventory(String)}), and the memory its buffers may take
 * ({@link WeightReceiver.Builder#maxBufferBytes}). Immutable; the builder keeps the current one.
 *
 * @param maxBufferBytes       the most the buffers may take; {@link #DEFAULT_BUFFER_BUDGET} for the default
 * @param tensors              the tensors the plan must have, in order; null for any
 * @param inventoryFingerprint the {@link BucketPlan#inventoryFingerprint()} the plan must have; null for any
 */
record ReceiverExpectations(long maxBufferBytes, List<TensorSpec> tensors, String inventoryFingerprint) {
    static final ReceiverExpectations NONE = new ReceiverExpectations(-1, null, null);
    /** {@link #maxBufferBytes} meaning: twice the plan's tensor bytes plus {@link #PADDING_ALLOWANCE}. */
    static final long DEFAULT_BUFFER_BUDGET = -1;
    /** What the default budget allows beyond twice the tensors, for the padding of tiny or very aligned plans. */
    static final long PADDING_ALLOWANCE = 16L << 20;

    ReceiverExpectations withMaxBufferBytes(long value) {
        return new ReceiverExpectations(Arguments.atLeast("maxBufferBytes", value, 0L), tensors, inventoryFingerprint);
    }

    ReceiverExpectations withTensors(List<TensorSpec> expected) {
        return new ReceiverExpectations(maxBufferBytes, Inventory.of("expected", expected).tensors(),
                inventoryFingerprint);
    }

    ReceiverExpectations withInventoryFingerprint(String fingerprint) {
        if (fingerprint.length() != 64) {
            throw new IllegalArgumentException("an inventory fingerprint is 64 hex digits (Inventory.fingerprint()): \""
                    + fingerprint + "\"");
        }
        HexFormat.of().parseHex(fingerprint); // validates
        return new ReceiverExpectations(maxBufferBytes, tensors, fingerprint.toLowerCase(Locale.ROOT));
    }

    /**
     * Checks the plan's tensors against the expected ones, then against the expected inventory fingerprint.
     *
     * @throws JoinRejectedException {@code PLAN_MISMATCH}, naming the first tensor that differs and both its
     *                               descriptions, or both fingerprints
     */
    void checkInventory(BucketPlan offered) {
        if (tensors != null) {
            firstDifference(offered, tensors);
        }
        if (inventoryFingerprint != null && !inventoryFingerprint.equals(offered.inventoryFingerprint())) {
            throw mismatch("the sender's " + offered.tensorCount() + " tensors have inventory fingerprint "
                    + offered.inventoryFingerprint() + ", this receiver requires " + inventoryFingerprint
                    + " (another model, or another version of it)");
        }
    }

    private static void firstDifference(BucketPlan offered, List<TensorSpec> expected) {
        int common = Math.min(offered.tensorCount(), expected.size());
        for (int t = 0; t < common; t++) {
            TensorSpec sent = offered.tensor(t);
            TensorSpec wanted = expected.get(t);
            if (!sent.name().equals(wanted.name())) {
                int there = offered.indexOf(wanted.name());
                throw mismatch("tensor " + t + " of the sender's plan is " + sent.name() + ", this receiver expects "
                        + wanted.name() + (there < 0 ? ", which the plan does not have"
                        : ", which the plan has at position " + there));
            }
            if (!sent.equals(wanted)) {
                throw mismatch("tensor " + sent.name() + " is " + sent.dtype().torchName() + " "
                        + sent.shapeString() + " in the sender's plan, this receiver expects "
                        + wanted.dtype().torchName() + " " + wanted.shapeString());
            }
        }
        if (offered.tensorCount() > common) {
            throw mismatch("the sender's plan has " + offered.tensorCount() + " tensors, this receiver expects "
                    + expected.size() + ": tensor " + offered.tensor(common).name() + " is not expected");
        }
        if (expected.size() > common) {
            throw mismatch("the sender's plan has " + offered.tensorCount() + " tensors, this receiver expects "
                    + expected.size() + ": tensor " + expected.get(common).name() + " is missing");
        }
    }

    /**
     * Checks that the buffers {@code mode} needs for {@code offered} fit the budget. Run after the plan was matched
     * to the destinations, so that its tensors are this receiver's own whenever it has any.
     *
     * @throws ProtocolException naming the plan's sizes, the budget and the option that raises it
     */
    void checkBudget(BucketPlan offered, CommitMode mode) {
        checkFits(offered, bufferBytes(offered, mode), 1, mode + " receive buffers (" + sizes(offered) + ")",
                "for padding");
    }

    /**
     * Checks that {@code copies} plan-layout storages of {@code offered} (allocated from the sender's plan) fit the
     * budget; the default budget allows each copy twice the plan's tensor bytes plus {@link #PADDING_ALLOWANCE}.
     *
     * @throws ProtocolException naming the plan's sizes, the budget and the option that raises it
     */
    void checkStorageBudget(BucketPlan offered, int copies) {
        checkFits(offered, saturatedTimes(offered.totalBucketBytes(), copies), copies, "storage (" + copies
                + (copies == 1 ? " copy" : " copies") + " of " + sizes(offered) + ")", "per copy");
    }

    /** {@code needed} bytes of {@code what} fit {@code maxBufferBytes}, or the default budget for {@code copies}. */
    private void checkFits(BucketPlan offered, long needed, int copies, String what, String allowanceIs) {
        long budget = maxBufferBytes != DEFAULT_BUFFER_BUDGET ? maxBufferBytes
                : saturatedTimes(saturatedSum(2 * offered.totalTensorBytes(), PADDING_ALLOWANCE), copies);
        if (needed > budget) {
            throw new ProtocolException("the sender's plan needs " + needed + " bytes of " + what
                    + ", over this receiver's limit of " + budget + " bytes (" + (maxBufferBytes == DEFAULT_BUFFER_BUDGET
                    ? "by default twice the tensor bytes plus " + PADDING_ALLOWANCE + " " + allowanceIs + "; " : "")
                    + "raise it with maxBufferBytes(...))");
        }
    }

    /** Bytes the receive pipeline of {@code mode} allocates for {@code plan}: a staging area, or two bucket buffers. */
    static long bufferBytes(BucketPlan plan, CommitMode mode) {
        return switch (mode) {
            case STAGED -> plan.totalBucketBytes();
            case IN_PLACE -> Math.min(2, plan.bucketCount()) * plan.maxBucketByteSize();
        };
    }

    /**
     * What {@code allocate} builds for {@code plan}; memory it cannot have is the sender's plan's fault (it came from
     * the network): a ProtocolException naming {@code what} and the plan's sizes.
     */
    static <T> T allocatedFor(BucketPlan plan, String what, Supplier<T> allocate) {
        try {
            return allocate.get();
        } catch (OutOfMemoryError tooLarge) {
            throw new ProtocolException("welcome.plan needs " + what + " that cannot be allocated (" + sizes(plan)
                    + "): " + tooLarge.getMessage(), tooLarge);
        }
    }

    /** The plan's sizes, for messages about its buffers. */
    static String sizes(BucketPlan plan) {
        return plan.bucketCount() + " buckets, " + plan.totalBucketBytes() + " bytes, the largest "
                + plan.maxBucketByteSize() + ", for " + plan.totalTensorBytes() + " bytes of tensors";
    }

    private static long saturatedTimes(long a, int n) {
        return a > Long.MAX_VALUE / n ? Long.MAX_VALUE : a * n;
    }

    private static long saturatedSum(long a, long b) {
        return a < 0 || a > Long.MAX_VALUE - b ? Long.MAX_VALUE : a + b;
    }

    /** This receiver turns the sender's plan down: {@code message} says why. */
    static JoinRejectedException mismatch(String message) {
        return new JoinRejectedException(FailureReason.PLAN_MISMATCH, "this receiver declines the plan: " + message);
    }
}
