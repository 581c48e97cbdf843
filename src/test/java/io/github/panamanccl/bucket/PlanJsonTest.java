package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PlanJsonTest {
    private static final BucketPlan PLAN = BucketPlanner.plan(List.of(new TensorSpec("w", DType.BFLOAT16, 3, 100),
            new TensorSpec("s", DType.FLOAT32), new TensorSpec("e", DType.INT8, 0)), 512, 256);

    /** What a Python tool would write: no fingerprint, no byteSize, torch dtype names. */
    private static final String HAND_WRITTEN = """
            {"format": "panama-nccl-bucket-plan", "version": 1, "bucketCapBytes": 512, "alignment": 256,
             "buckets": [512, 260],
             "tensors": [
               {"name": "w", "dtype": "bfloat16", "shape": [3, 100],
                "pieces": [{"bucket": 0, "offset": 0, "length": 512}, {"bucket": 1, "offset": 0, "length": 88}]},
               {"name": "s", "dtype": "torch.float32", "shape": [], "pieces": [{"bucket": 1, "offset": 256, "length": 4}]},
               {"name": "e", "dtype": "int8", "shape": [0], "pieces": []}]}
            """;

    private static void assertRejected(String json, String field, String value) {
        PlanFormatException rejection = assertThrows(PlanFormatException.class, () -> PlanJson.fromJson(json));
        assertEquals(field, rejection.field(), rejection.getMessage());
        assertEquals(value, rejection.value(), rejection.getMessage());
    }

    @Test
    void roundTripsAndReadsHandWrittenPlans() {
        String json = PlanJson.toJson(PLAN);
        assertTrue(json.contains("\"dtype\":\"bfloat16\""), json);
        assertTrue(json.contains("\"fingerprint\":\"" + PLAN.fingerprint() + "\""), json);
        assertEquals(PLAN, PlanJson.fromJson(json));
        assertEquals(PLAN, PlanJson.fromJson(HAND_WRITTEN));
    }

    @Test
    void rejectsWhatTheBinaryDecoderRejects() {
        assertRejected(HAND_WRITTEN.replace("\"offset\": 256", "\"offset\": 128"), "tensors[1].pieces[0].offset", "128");
        assertRejected(HAND_WRITTEN.replace("[512, 260]", "[600, 260]"), "buckets[0].byteSize", "600");
        assertRejected(HAND_WRITTEN.replace("\"name\": \"s\"", "\"name\": \"w\""), "tensors[1].name", "\"w\"");
        assertRejected(HAND_WRITTEN.replace("\"length\": 88", "\"length\": 86"), "tensors[0].pieces", "598");
        assertRejected(HAND_WRITTEN.replace("\"shape\": [0]", "\"shape\": [-2]"), "tensors[2].shape[0]", "-2");
    }

    @Test
    void rejectsMalformedJson() {
        assertRejected(HAND_WRITTEN.replace("\"bfloat16\"", "\"bf16\""), "tensors[0].dtype", "\"bf16\"");
        assertRejected(HAND_WRITTEN.replace("\"shape\": [3, 100]", "\"shape\": [3, 1.5]"), "tensors[0].shape[1]", "1.5");
        assertRejected(HAND_WRITTEN.replace("\"shape\": [3, 100]", "\"shape\": \"3,100\""), "tensors[0].shape", "\"3,100\"");
        assertRejected(HAND_WRITTEN.replace("\"shape\": [3, 100]", "\"shape\": [3, 99999999999999999999]"),
                "tensors[0].shape[1]", "99999999999999999999");
        assertRejected(HAND_WRITTEN.replace("\"version\": 1", "\"version\": 2"), "version", "2");
        assertRejected(HAND_WRITTEN.replace("\"version\": 1,", ""), "version", "missing");
        assertRejected(HAND_WRITTEN.replace("\"version\": 1", "\"version\": 1, \"extra\": 0"), "$", "\"extra\"");
        assertRejected(HAND_WRITTEN.replace("\"alignment\": 256", "\"alignment\": 256, \"alignment\": 1"), "json", "line 1 column 105");
        assertRejected(HAND_WRITTEN + "{}", "json", "line 8 column 1");
        assertRejected(HAND_WRITTEN.replace("\"format\": \"panama-nccl-bucket-plan\", ", ""), "format", "missing");
        assertRejected("[]", "$", "[]");
        assertRejected(PlanJson.toJson(PLAN).replace("\"byteSize\":600", "\"byteSize\":601"), "tensors[0].byteSize", "601");
        assertRejected(PlanJson.toJson(PLAN).replace(PLAN.fingerprint(), "0".repeat(64)), "fingerprint", "\"" + "0".repeat(64) + "\"");
    }

    @Test
    void countsAreCheckedWhileReadingNotAfterBuildingATree() {
        // one bucket too many, and the document never ends: only a streaming check sees the count first
        StringBuilder json = new StringBuilder("{\"format\": \"panama-nccl-bucket-plan\", \"buckets\": [");
        json.append("1,".repeat(BucketPlan.MAX_BUCKETS)).append('1');

        PlanFormatException rejection = assertThrows(PlanFormatException.class, () -> PlanJson.fromJson(json.toString()));

        assertEquals("bucketCount", rejection.field(), rejection.getMessage());
        assertEquals("more than " + BucketPlan.MAX_BUCKETS, rejection.value());
        assertTrue(rejection.reason().contains(Integer.toString(BucketPlan.MAX_BUCKETS)), rejection.getMessage());
    }

    @Test
    void oversizedValuesAreRefusedByFieldWithTheirLimit() {
        String longName = "n".repeat(TensorSpec.MAX_NAME_BYTES + 1);
        PlanFormatException name = assertThrows(PlanFormatException.class,
                () -> PlanJson.fromJson(HAND_WRITTEN.replace("\"name\": \"w\"", "\"name\": \"" + longName + "\"")));
        assertEquals("tensors[0].name", name.field(), name.getMessage());
        assertEquals("a string of more than " + TensorSpec.MAX_NAME_BYTES + " characters", name.value());

        String rank33 = "[" + "1, ".repeat(TensorSpec.MAX_RANK) + "1]";
        assertRejected(HAND_WRITTEN.replace("\"shape\": [0]", "\"shape\": " + rank33), "tensors[2].shape",
                "more than " + TensorSpec.MAX_RANK + " entries");

        // nesting far beyond Jackson's own depth limit is refused at its first bracket
        String deep = "[".repeat(100_000);
        assertRejected(HAND_WRITTEN.replace("\"panama-nccl-bucket-plan\"", deep), "format", "[...]");
        assertRejected(HAND_WRITTEN.replace("\"shape\": [3, 100]", "\"shape\": [3, " + deep + "]"),
                "tensors[0].shape[1]", "[...]");
        assertRejected("", "$", "end of input");
        assertRejected(HAND_WRITTEN.replace("\"bucket\": 1, \"offset\": 256", "\"bucket\": 2, \"offset\": 256"),
                "tensors[1].pieces[0].bucket", "2");
    }

    /** Random edits of valid JSON end in a plan or a PlanFormatException, never in anything else. */
    @Test
    void mutatedJsonEndsInTypedRejectionOrValidPlan() {
        Random random = new Random(0x15011);
        String[] corpus = {HAND_WRITTEN, PlanJson.toJson(PLAN)};
        String alphabet = "{}[]\",:0123456789-.eE \\ntruefalsenull";
        int cases = 3000;
        int valid = 0;
        for (int c = 0; c < cases; c++) {
            StringBuilder text = new StringBuilder(corpus[random.nextInt(corpus.length)]);
            for (int edits = 1 + random.nextInt(3); edits > 0 && !text.isEmpty(); edits--) {
                int at = random.nextInt(text.length());
                switch (random.nextInt(4)) {
                    case 0 -> text.setCharAt(at, alphabet.charAt(random.nextInt(alphabet.length())));
                    case 1 -> text.deleteCharAt(at);
                    case 2 -> text.insert(at, alphabet.charAt(random.nextInt(alphabet.length())));
                    default -> text.setLength(at);
                }
            }
            try {
                PlanJson.fromJson(text.toString());
                valid++;
            } catch (PlanFormatException expected) {
                assertTrue(expected.field() != null && expected.value() != null, expected.toString());
            } catch (RuntimeException other) {
                throw new AssertionError("case " + c + " threw " + other + " for\n" + text, other);
            }
        }
        assertTrue(valid > 0 && valid < cases, valid + " of " + cases + " valid");
    }
}
