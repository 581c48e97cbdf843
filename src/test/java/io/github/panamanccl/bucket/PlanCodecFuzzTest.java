package io.github.panamanccl.bucket;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.testing.FuzzContract;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Coverage-guided fuzzing of {@link PlanCodec#decode}: every input ends in a {@link PlanFormatException} or in a
 * plan that passes the independent layout check and re-encodes to a fixed point, the outcome does not depend on
 * the bytes around the decoded range (nothing is read outside it), and memory stays within
 * {@link FuzzContract#allocationBudget}. Seeds: {@link #decode()}, plus the corpus in
 * src/test/resources/io/github/panamanccl/bucket/PlanCodecFuzzTestInputs/decode (see src/test/FUZZING.md).
 */

class PlanCodecFuzzTest {
    private static final int FRAME = 16;

    static Stream<Arguments> decode() {
        return seedPlans().map(plan -> Arguments.of(Named.of(plan.getName(), PlanCodec.encode(plan.getPayload()))));
    }

    /**
     * Small plans (a few KiB at most, so that fuzzing stays fast) with every feature: empty, scalar, zero-size and
     * split tensors, several dtypes, non-ASCII names, alignments from 1 to 256.
     */
    static Stream<Named<BucketPlan>> seedPlans() {
        Random random = new Random(0x5eed);
        long[] caps = {16, 64, 256, 1000, 4096};
        Stream<Named<BucketPlan>> fixed = Stream.of(
                Named.of("empty plan", BucketPlanner.plan(List.of(), 64)),
                Named.of("scalar, empty and split tensors", BucketPlanner.plan(List.of(
                        new TensorSpec("scalar", DType.FLOAT64), new TensorSpec("empty", DType.INT16, 0, 3),
                        new TensorSpec("big", DType.BFLOAT16, 7, 5)), 16, 8)));
        Stream<Named<BucketPlan>> randomPlans = IntStream.range(0, 8).mapToObj(i -> Named.of("random plan " + i,
                BucketPlanner.plan(PlanFixtures.randomInventory(random, 2 + random.nextInt(6), 8),
                        caps[i % caps.length], 1L << random.nextInt(9))));
        return Stream.concat(fixed, randomPlans);
    }

    @MethodSource
    @FuzzTest
    void decode(byte[] input) {
        String outcome = outcome(input, 0, input.length);
        byte[] framed = new byte[input.length + 2 * FRAME];
        Arrays.fill(framed, (byte) 0xA5);
        System.arraycopy(input, 0, framed, FRAME, input.length);
        assertEquals(outcome, outcome(framed, FRAME, input.length), "the outcome depends on bytes outside the range");

        FuzzContract.decode(input, PlanFormatException.class, () -> PlanCodec.decode(input)).ifPresent(plan -> {
            PlanFixtures.assertValidLayout(plan, plan.tensors(), plan.bucketCapBytes(), plan.alignment());
            byte[] canonical = PlanCodec.encode(plan);
            BucketPlan again = PlanCodec.decode(canonical);
            assertEquals(plan, again);
            assertEquals(plan.fingerprint(), again.fingerprint());
            assertArrayEquals(canonical, PlanCodec.encode(again));
        });
    }

    /** "plan <fingerprint>" or "rejected <field> = <value>"; any other exception is a finding. */
    private static String outcome(byte[] bytes, int offset, int length) {
        try {
            return "plan " + PlanCodec.decode(bytes, offset, length).fingerprint();
        } catch (PlanFormatException rejection) {
            return "rejected " + rejection.field() + " = " + rejection.value();
        }
    }
}
