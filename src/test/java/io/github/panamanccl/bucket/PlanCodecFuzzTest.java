package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Mutates and truncates valid encodings: every input must end in a {@link PlanFormatException} or a plan that
 * passes the independent layout check, and the outcome must not depend on the bytes around the decoded range
 * (nothing is read outside it). Cases: system property {@code fuzz.cases} (default 2000), seed {@code fuzz.seed}.
 */
class PlanCodecFuzzTest {
    private static final int[] INTERESTING = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x40};

    @Test
    void mutatedPlansEndInTypedRejectionOrValidPlan() {
        int cases = Integer.getInteger("fuzz.cases", 2000);
        long seed = Long.getLong("fuzz.seed", 0x5eedL);
        Random random = new Random(seed);
        List<byte[]> corpus = corpus(random);
        Set<String> rejectedFields = new TreeSet<>();
        int valid = 0;
        for (int c = 0; c < cases; c++) {
            byte[] input = mutate(corpus.get(random.nextInt(corpus.size())), random);
            byte[] framed = new byte[input.length + 32];
            random.nextBytes(framed);
            System.arraycopy(input, 0, framed, 16, input.length);
            String outcome = outcome(input, 0, input.length, c, seed);
            assertEquals(outcome, outcome(framed, 16, input.length, c, seed), "case " + c + ": depends on bytes outside the range");
            if (outcome.startsWith("plan ")) {
                valid++;
                BucketPlan plan = PlanCodec.decode(input);
                PlanFixtures.assertValidLayout(plan, plan.tensors(), plan.bucketCapBytes(), plan.alignment());
                byte[] canonical = PlanCodec.encode(plan);
                assertEquals(plan, PlanCodec.decode(canonical));
                assertArrayEquals(canonical, PlanCodec.encode(PlanCodec.decode(canonical)));
            } else {
                rejectedFields.add(outcome.replaceAll("\\[\\d+]", "[]").replaceAll(" = .*", ""));
            }
        }
        System.out.printf("PlanCodecFuzzTest: %d cases (fuzz.seed=%d): %d valid plans, %d rejections over %d fields%n",
                cases, seed, valid, cases - valid, rejectedFields.size());
        if (cases >= 1000) {
            assertTrue(valid > 0, "some mutations keep a valid plan");
            assertTrue(rejectedFields.size() >= 15, "rejections reach many fields: " + rejectedFields);
        }
    }

    /** "plan <fingerprint>" or "rejected <field> = <value>"; any other exception fails the test. */
    private static String outcome(byte[] bytes, int offset, int length, int caseNumber, long seed) {
        try {
            return "plan " + PlanCodec.decode(bytes, offset, length).fingerprint();
        } catch (PlanFormatException rejection) {
            return "rejected " + rejection.field() + " = " + rejection.value();
        } catch (Throwable other) {
            fail("case " + caseNumber + " (fuzz.seed=" + seed + ") threw " + other + " for "
                    + HexFormat.of().formatHex(bytes, offset, offset + Math.min(length, 512)), other);
            return null;
        }
    }

    private static List<byte[]> corpus(Random random) {
        List<byte[]> corpus = new ArrayList<>();
        corpus.add(PlanCodec.encode(BucketPlanner.plan(List.of(), 64)));
        corpus.add(PlanCodec.encode(BucketPlanner.plan(List.of(new TensorSpec("scalar", DType.FLOAT64),
                new TensorSpec("empty", DType.INT16, 0, 3), new TensorSpec("big", DType.BFLOAT16, 7, 5)), 16, 8)));
        long[] caps = {8, 64, 256, 1000, 4096};
        for (int i = 0; i < 8; i++) {
            List<TensorSpec> inventory = PlanFixtures.randomInventory(random, 2 + random.nextInt(12), 20);
            corpus.add(PlanCodec.encode(BucketPlanner.plan(inventory, caps[i % caps.length], 1L << random.nextInt(9))));
        }
        return corpus;
    }

    private static byte[] mutate(byte[] base, Random random) {
        byte[] bytes = base.clone();
        int rounds = 1 + random.nextInt(3);
        for (int r = 0; r < rounds; r++) {
            bytes = switch (random.nextInt(8)) {
                case 0 -> flipBits(bytes, random);
                case 1 -> setByte(bytes, random);
                case 2 -> java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length + 1));
                case 3 -> insert(bytes, random);
                case 4 -> delete(bytes, random);
                case 5 -> duplicateRange(bytes, random);
                case 6 -> setHeaderField(bytes, random);
                default -> setByte(flipBits(bytes, random), random);
            };
        }
        return bytes;
    }

    private static byte[] flipBits(byte[] bytes, Random random) {
        for (int i = 0, n = 1 + random.nextInt(4); i < n && bytes.length > 0; i++) {
            bytes[random.nextInt(bytes.length)] ^= (byte) (1 << random.nextInt(8));
        }
        return bytes;
    }

    private static byte[] setByte(byte[] bytes, Random random) {
        if (bytes.length > 0) {
            bytes[random.nextInt(bytes.length)] = (byte) (random.nextBoolean()
                    ? INTERESTING[random.nextInt(INTERESTING.length)] : random.nextInt(256));
        }
        return bytes;
    }

    private static byte[] insert(byte[] bytes, Random random) {
        int at = random.nextInt(bytes.length + 1);
        byte[] extra = new byte[1 + random.nextInt(8)];
        random.nextBytes(extra);
        byte[] out = new byte[bytes.length + extra.length];
        System.arraycopy(bytes, 0, out, 0, at);
        System.arraycopy(extra, 0, out, at, extra.length);
        System.arraycopy(bytes, at, out, at + extra.length, bytes.length - at);
        return out;
    }

    private static byte[] delete(byte[] bytes, Random random) {
        if (bytes.length == 0) {
            return bytes;
        }
        int at = random.nextInt(bytes.length);
        int count = 1 + random.nextInt(Math.min(8, bytes.length - at));
        byte[] out = new byte[bytes.length - count];
        System.arraycopy(bytes, 0, out, 0, at);
        System.arraycopy(bytes, at + count, out, at, bytes.length - at - count);
        return out;
    }

    private static byte[] duplicateRange(byte[] bytes, Random random) {
        if (bytes.length < 2) {
            return bytes;
        }
        int from = random.nextInt(bytes.length);
        int count = 1 + random.nextInt(Math.min(16, bytes.length - from));
        int to = random.nextInt(bytes.length - count + 1);
        System.arraycopy(bytes.clone(), from, bytes, to, count);
        return bytes;
    }

    /** Overwrites one header field (cap, alignment or a count) with a small, edge or random value. */
    private static byte[] setHeaderField(byte[] bytes, Random random) {
        int[] offsets = {8, 16, 20, 24, 28};
        int at = offsets[random.nextInt(offsets.length)];
        if (bytes.length < at + 4) {
            return bytes;
        }
        long value = switch (random.nextInt(4)) {
            case 0 -> random.nextInt(4);
            case 1 -> 0xffffffffL;
            case 2 -> (bytes[at] & 0xff) + (random.nextBoolean() ? 1 : -1);
            default -> random.nextInt() & 0xffffffffL;
        };
        for (int i = 0; i < 4; i++) {
            bytes[at + i] = (byte) (value >>> (8 * i));
        }
        return bytes;
    }
}
