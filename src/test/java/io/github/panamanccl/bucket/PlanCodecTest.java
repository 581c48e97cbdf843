package io.github.panamanccl.bucket;

import io.github.panamanccl.testing.RawPlanWriter;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exact decoding of hand-built input and one named rejection per rule. */
class PlanCodecTest {
    private static final long[] FOUR = {4};
    private static final long[] EIGHT = {8};

    /** Two tensors in one bucket: a float32[4] at 0 and a bfloat16[8] at 256; bucket of 272 bytes. */
    private static RawPlanWriter twoTensors(long bucketSize, long secondOffset) {
        return new RawPlanWriter().header(1024, 256, 2, 1, 2).varint(bucketSize)
                .tensor("a", DType.FLOAT32, FOUR, 0, 0, 16)
                .tensor("b", DType.BFLOAT16, EIGHT, 0, secondOffset, 16);
    }

    private static PlanFormatException assertRejected(byte[] bytes, String field, String value) {
        PlanFormatException rejection = assertThrows(PlanFormatException.class, () -> PlanCodec.decode(bytes));
        assertEquals(field, rejection.field(), rejection.getMessage());
        assertEquals(value, rejection.value(), rejection.getMessage());
        return rejection;
    }

    @Test
    void decodesHandBuiltPlan() {
        BucketPlan plan = PlanCodec.decode(twoTensors(272, 256).bytes());
        assertEquals(List.of(new TensorSpec("a", DType.FLOAT32, 4), new TensorSpec("b", DType.BFLOAT16, 8)), plan.tensors());
        assertEquals(1, plan.bucketCount());
        assertEquals(272, plan.bucketByteSize(0));
        assertEquals(List.of(new BucketPlan.Piece(1, 0, 256, 0, 16)), plan.piecesOf(1));
        assertEquals(plan, BucketPlanner.plan(plan.tensors(), 1024, 256), "the planner makes the same layout");
    }

    @Test
    void encodingIsCompactAndFrontCoded() {
        BucketPlan plan = BucketPlanner.plan(List.of(
                new TensorSpec("model.layers.0.mlp.experts.0.up_proj.weight", DType.BFLOAT16, 512, 2048),
                new TensorSpec("model.layers.0.mlp.experts.1.up_proj.weight", DType.BFLOAT16, 512, 2048)), 1L << 29);
        byte[] encoded = PlanCodec.encode(plan);
        // header 32 + bucket size 4 + first record (prefix 1, length 1, name 43, dtype 1, rank 1, dims 2+2, pieces 1,
        // delta 1, offset 1, length 4) + second (name suffix 16 after a shared prefix of 27, offset 4)
        assertEquals(32 + 4 + 58 + 34, encoded.length);
        assertEquals(plan, PlanCodec.decode(encoded));
    }

    @Test
    void decodesFromTheMiddleOfAnArray() {
        byte[] plan = twoTensors(272, 256).bytes();
        byte[] padded = new byte[plan.length + 20];
        Arrays.fill(padded, (byte) 0x7f);
        System.arraycopy(plan, 0, padded, 10, plan.length);
        assertEquals(PlanCodec.decode(plan), PlanCodec.decode(padded, 10, plan.length));
        assertRejected(Arrays.copyOf(plan, plan.length + 1), "trailingBytes", "1");
        PlanFormatException truncated = assertThrows(PlanFormatException.class,
                () -> PlanCodec.decode(padded, 10, plan.length - 1));
        assertEquals("tensors[1].pieces[0].length", truncated.field());
    }

    @Test
    void rejectsBadHeaders() {
        byte[] good = twoTensors(272, 256).bytes();
        byte[] magic = good.clone();
        magic[0] = 'X';
        assertRejected(magic, "magic", "0x584e4250");
        assertRejected(Arrays.copyOf(good, 31), "header", "truncated");
        byte[] version = good.clone();
        version[4] = 2;
        assertRejected(version, "version", "2");
        byte[] flags = good.clone();
        flags[6] = 1;
        assertRejected(flags, "flags", "1");
        assertRejected(new RawPlanWriter().header(0, 256, 0, 0, 0).bytes(), "bucketCapBytes", "0");
        assertRejected(new RawPlanWriter().header(-1, 256, 0, 0, 0).bytes(), "bucketCapBytes", "18446744073709551615");
        assertRejected(new RawPlanWriter().header(1024, 3, 0, 0, 0).bytes(), "alignment", "3");
        assertRejected(new RawPlanWriter().header(1024, 256, 5_000_000, 0, 0).bytes(), "tensorCount", "5000000");
        assertRejected(new RawPlanWriter().header(1024, 256, 0, 0, 4_000_000_000L).bytes(), "pieceCount", "4000000000");
        // Counts within the limits but more than the bytes present could hold: rejected before any allocation.
        assertRejected(new RawPlanWriter().header(1024, 256, 1_000_000, 0, 0).raw(0, 0, 0).bytes(), "tensorCount", "1000000");
    }

    @Test
    void rejectsLayoutErrors() {
        assertRejected(twoTensors(272, 128).bytes(), "tensors[1].pieces[0].offset", "128");
        assertRejected(twoTensors(272, 0).bytes(), "tensors[1].pieces[0].offset", "0");
        assertRejected(twoTensors(2000, 256).bytes(), "buckets[0].byteSize", "2000");
        assertRejected(twoTensors(300, 256).bytes(), "buckets[0].byteSize", "300");
        assertRejected(twoTensors(270, 256).bytes(), "tensors[1].pieces[0].length", "16");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(8)
                .tensor("a", DType.FLOAT32, FOUR, 0, 0, 8).bytes(), "tensors[0].pieces", "8");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(16)
                .tensor("a", DType.FLOAT32, FOUR, 0, 0, 15).bytes(), "tensors[0].pieces[0].length", "15");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 2, 1).varint(16).varint(16)
                .tensor("a", DType.FLOAT32, FOUR, 0, 0, 16).bytes(), "buckets[1]", "16");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(16)
                .tensor("a", DType.FLOAT32, FOUR, 1, 0, 16).bytes(), "tensors[0].pieces[0].bucketDelta", "1");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 2).varint(16)
                .tensor("a", DType.FLOAT32, FOUR, 0, 0, 8, 0, 256, 8).bytes(), "tensors[0].pieces[1].bucket", "0");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0).tensor("a", DType.FLOAT32, FOUR).bytes(),
                "tensors[0].pieces", "0");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0).raw(0, 1, 'e', DType.FLOAT32.code(), 1, 0, 1)
                .bytes(), "tensors[0].pieceCount", "1");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(16)
                .tensor("e", DType.FLOAT32, new long[] {0}, 0, 0, 16).bytes(), "tensors[0].pieces", "1");
    }

    /**
     * 2^15 buckets of the largest size sum past Long.MAX_VALUE: such a plan would report a negative total, which a
     * receiver sizes its staging area by. It is rejected at the bucket where the total overflows.
     */
    @Test
    void rejectsBucketsWhoseTotalOverflowsALong() {
        int buckets = 1 << 15;
        long size = BucketPlan.MAX_BUCKET_CAP;
        RawPlanWriter plan = new RawPlanWriter().header(size, 1, buckets, buckets, buckets);
        for (int b = 0; b < buckets; b++) {
            plan.varint(size);
        }
        for (int t = 0; t < buckets; t++) {
            plan.tensor("t" + t, DType.INT8, new long[] {1}, t == 0 ? 0 : 1, size - 1, 1);
        }
        PlanFormatException rejection = assertRejected(plan.bytes(), "buckets[32767].byteSize", String.valueOf(size));
        assertTrue(rejection.getMessage().contains("total byte size overflows a long"), rejection.getMessage());
    }

    @Test
    void rejectsBadTensorFields() {
        assertRejected(new RawPlanWriter().header(1024, 256, 2, 1, 2).varint(272).tensor("a", DType.FLOAT32, FOUR, 0, 0, 16)
                .tensor("a", DType.BFLOAT16, EIGHT, 0, 256, 16).bytes(), "tensors[1].name", "\"a\"");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(16)
                .tensor(new byte[] {(byte) 0xc3, 0x28}, DType.UINT8.code(), new long[] {16}, 0, 0, 16).bytes(),
                "tensors[0].name", "0xc328");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(16)
                .tensor("a\tb", DType.UINT8, new long[] {16}, 0, 0, 16).bytes(), "tensors[0].name", "\"a\\u0009b\"");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).varint(16)
                .tensor("a".getBytes(), 99, new long[] {16}, 0, 0, 16).bytes(), "tensors[0].dtype", "99");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0)
                .tensor("a", DType.UINT8, new long[40]).bytes(), "tensors[0].rank", "40");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0)
                .tensor("a", DType.FLOAT32, new long[] {1L << 62, 4}).bytes(), "tensors[0].shape", "[4611686018427387904, 4]");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0).raw(0, 1, 'a', 1, 1)
                .raw(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).raw(0).bytes(),
                "tensors[0].shape[0]", "0xffffffffffffffffff01");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 1, 1).raw(0x90, 0x00).tensor("a", DType.UINT8, FOUR)
                .bytes(), "buckets[0].byteSize", "0x9000");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0).raw(1, 1, 'a', 1, 0, 0).bytes(),
                "tensors[0].sharedPrefix", "1");
        assertRejected(new RawPlanWriter().header(1024, 256, 1, 0, 0).varint(0).varint(2000).raw(new int[2010]).bytes(),
                "tensors[0].suffixLength", "2000");
    }

    @Test
    void rejectionMessagesNameFieldAndValue() {
        PlanFormatException rejection = assertRejected(twoTensors(272, 128).bytes(), "tensors[1].pieces[0].offset", "128");
        assertTrue(rejection.getMessage().startsWith("tensors[1].pieces[0].offset = 128: "), rejection.getMessage());
        assertTrue(rejection.reason().contains("alignment 256"), rejection.reason());
    }

    @Test
    void emptyPlanRoundTrips() {
        BucketPlan empty = BucketPlanner.plan(List.of(), 1024);
        byte[] encoded = PlanCodec.encode(empty);
        assertEquals(PlanCodec.HEADER_BYTES, encoded.length);
        assertEquals(empty, PlanCodec.decode(encoded));
        assertArrayEquals(encoded, PlanCodec.encode(PlanCodec.decode(encoded)));
    }
}
