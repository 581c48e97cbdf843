package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real Qwen3-Next-80B-A3B inventory (74 391 tensors, 148 GiB) in 512 MiB buckets. */
class QwenNextPlanTest {
    private static final long CAP = 512L << 20;

    @Test
    void plansTheWholeModelIntoValidBuckets() {
        Inventory inventory = DemoInventories.load("qwen3-next-80b-a3b");
        BucketPlan plan = BucketPlanner.plan(inventory.tensors(), CAP);
        PlanFixtures.assertValidLayout(plan, inventory.tensors(), CAP, 256);
        PlanFixtures.assertTightPacking(plan);
        assertEquals(inventory.totalBytes(), plan.totalTensorBytes());
        assertTrue(plan.totalBucketBytes() - plan.totalTensorBytes() < 256L * plan.pieceCount(), "padding below alignment");
        assertTrue(plan.bucketCount() >= (inventory.totalBytes() + CAP - 1) / CAP, plan.toString());
        // embed_tokens and lm_head (594 MiB each) are the only tensors above the cap. embed_tokens comes first and
        // takes a full bucket plus the start of the next; lm_head fills the rest of the current bucket, a full one
        // and the start of a third.
        List<BucketPlan.Piece> embedding = plan.piecesOf(plan.indexOf("model.embed_tokens.weight"));
        assertEquals(List.of(CAP, 622_329_856L - CAP), embedding.stream().map(BucketPlan.Piece::length).toList());
        List<BucketPlan.Piece> head = plan.piecesOf(plan.indexOf("lm_head.weight"));
        assertEquals(3, head.size());
        assertEquals(CAP, head.get(0).bucketOffset() + head.get(0).length());
        assertEquals(CAP, head.get(1).length());
        assertEquals(plan.bucketCount() - 1, head.get(2).bucket());
        long splitCount = 0;
        for (int t = 0; t < plan.tensorCount(); t++) {
            splitCount += plan.isSplit(t) ? 1 : 0;
        }
        assertEquals(2, splitCount);

        BucketPlan again = BucketPlanner.plan(DemoInventories.load("qwen3-next-80b-a3b").tensors(), CAP);
        assertNotSame(plan, again);
        assertEquals(plan.fingerprint(), again.fingerprint());
        byte[] encoded = PlanCodec.encode(plan);
        assertArrayEquals(encoded, PlanCodec.encode(again));
        assertEquals(plan, PlanCodec.decode(encoded));
        assertTrue(encoded.length < 3_000_000, "compact: " + encoded.length + " bytes");
    }

    /**
     * The same structure at 1/1024 of the bytes (cap scaled alike, so embed_tokens and lm_head still split):
     * every byte packed and scattered back, split tensors reassembled.
     */
    @Test
    void packsAndReassemblesAScaledModel() {
        Inventory scaled = DemoInventories.load("qwen3-next-80b-a3b").scaledDown(1024);
        long cap = CAP / 1024;
        BucketPlan plan = BucketPlanner.plan(scaled.tensors(), cap);
        PlanFixtures.assertValidLayout(plan, scaled.tensors(), cap, 256);
        assertTrue(plan.isSplit(plan.indexOf("model.embed_tokens.weight")));
        assertTrue(plan.isSplit(plan.indexOf("lm_head.weight")));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, scaled.tensors());
            MemorySegment[] buckets = PlanFixtures.packAll(arena, plan, sources);
            PlanFixtures.assertScatterRestores(arena, plan, buckets, sources);
        }
    }
}
