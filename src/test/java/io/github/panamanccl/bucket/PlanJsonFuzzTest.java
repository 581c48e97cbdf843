package io.github.panamanccl.bucket;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.testing.FuzzContract;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Coverage-guided fuzzing of {@link PlanJson#fromJson}: every text ends in a {@link PlanFormatException} or in a
 * plan that passes the independent layout check and survives export and import (JSON and binary) unchanged,
 * within {@link FuzzContract}'s budgets. Seeds: the exports of {@link PlanCodecFuzzTest}'s plans, plus the corpus
 * in src/test/resources/io/github/panamanccl/bucket/PlanJsonFuzzTestInputs/fromJson (see src/test/FUZZING.md).
 */
class PlanJsonFuzzTest {

    static Stream<Arguments> fromJson() {
        return PlanCodecFuzzTest.seedPlans().map(plan -> Arguments.of(Named.of(plan.getName(),
                PlanJson.toJson(plan.getPayload()).getBytes(StandardCharsets.UTF_8))));
    }

    @MethodSource
    @FuzzTest
    void fromJson(byte[] input) {
        String json = new String(input, StandardCharsets.UTF_8);
        FuzzContract.decode(input, PlanFormatException.class, () -> PlanJson.fromJson(json)).ifPresent(plan -> {
            PlanFixtures.assertValidLayout(plan, plan.tensors(), plan.bucketCapBytes(), plan.alignment());
            String exported = PlanJson.toJson(plan);
            BucketPlan imported = PlanJson.fromJson(exported);
            assertEquals(plan, imported);
            assertEquals(plan.fingerprint(), imported.fingerprint());
            assertEquals(exported, PlanJson.toJson(imported));
            assertEquals(plan, PlanCodec.decode(PlanCodec.encode(plan)));
        });
    }
}
