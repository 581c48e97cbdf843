package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hand-computed layouts. */
class BucketPlannerTest {
    private static BucketPlan.Piece piece(int tensor, int bucket, long bucketOffset, long tensorOffset, long length) {
        return new BucketPlan.Piece(tensor, bucket, bucketOffset, tensorOffset, length);
    }

    @Test
    void alignsAndOpensABucketWhenTheNextTensorDoesNotFit() {
        List<TensorSpec> inventory = List.of(new TensorSpec("a", DType.FLOAT32, 4), new TensorSpec("b", DType.BFLOAT16, 100),
                new TensorSpec("c", DType.UINT8, 700), new TensorSpec("d", DType.FLOAT32));
        BucketPlan plan = BucketPlanner.plan(inventory, 1024, 256);
        assertEquals(2, plan.bucketCount());
        assertEquals(456, plan.bucketByteSize(0));
        assertEquals(772, plan.bucketByteSize(1));
        assertEquals(List.of(piece(0, 0, 0, 0, 16), piece(1, 0, 256, 0, 200)), plan.piecesIn(0));
        assertEquals(List.of(piece(2, 1, 0, 0, 700), piece(3, 1, 768, 0, 4)), plan.piecesIn(1));
        assertEquals(920, plan.totalTensorBytes());
        assertEquals(1228, plan.totalBucketBytes());
    }

    @Test
    void splitsAFillingTheRestOfTheBucketThenWholeBuckets() {
        List<TensorSpec> inventory = List.of(new TensorSpec("x", DType.UINT8, 100), new TensorSpec("big", DType.FLOAT32, 600),
                new TensorSpec("y", DType.UINT8, 10));
        BucketPlan plan = BucketPlanner.plan(inventory, 1000, 256);
        assertEquals(List.of(piece(1, 0, 256, 0, 744), piece(1, 1, 0, 744, 1000), piece(1, 2, 0, 1744, 656)), plan.piecesOf(1));
        assertEquals(List.of(piece(2, 2, 768, 0, 10)), plan.piecesOf(2));
        assertEquals(List.of(1000L, 1000L, 778L), List.of(plan.bucketByteSize(0), plan.bucketByteSize(1), plan.bucketByteSize(2)));
        assertTrue(plan.isSplit(1));
    }

    @Test
    void splitsOnElementBoundaries() {
        BucketPlan plan = BucketPlanner.plan(List.of(new TensorSpec("d", DType.FLOAT64, 3)), 10, 1);
        assertEquals(List.of(piece(0, 0, 0, 0, 8), piece(0, 1, 0, 8, 8), piece(0, 2, 0, 16, 8)), plan.piecesOf(0));
    }

    @Test
    void embeddingAboveA512MiBCapTakesTwoBuckets() {
        long cap = 512L << 20;
        List<TensorSpec> inventory = List.of(new TensorSpec("model.embed_tokens.weight", DType.BFLOAT16, 151936, 2048),
                new TensorSpec("model.norm.weight", DType.BFLOAT16, 2048));
        BucketPlan plan = BucketPlanner.plan(inventory, cap);
        assertEquals(List.of(piece(0, 0, 0, 0, cap), piece(0, 1, 0, cap, 622_329_856L - cap)), plan.piecesOf(0));
        assertEquals(List.of(piece(1, 1, 85_458_944, 0, 4096)), plan.piecesOf(1));
        assertEquals(85_458_944 + 4096, plan.bucketByteSize(1));
    }

    @Test
    void scalarsAndEmptyTensors() {
        List<TensorSpec> inventory = List.of(new TensorSpec("e0", DType.FLOAT32, 0), new TensorSpec("s", DType.INT64),
                new TensorSpec("e1", DType.BFLOAT16, 5, 0), new TensorSpec("t", DType.BOOL, 3));
        BucketPlan plan = BucketPlanner.plan(inventory, 64, 8);
        assertEquals(List.of(), plan.piecesOf(0));
        assertEquals(List.of(piece(1, 0, 0, 0, 8)), plan.piecesOf(1));
        assertEquals(List.of(), plan.piecesOf(2));
        assertEquals(List.of(piece(3, 0, 8, 0, 3)), plan.piecesOf(3));
        assertEquals(2, plan.indexOf("e1"));
        assertEquals(-1, plan.indexOf("missing"));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            PlanFixtures.assertScatterRestores(arena, plan, PlanFixtures.packAll(arena, plan, sources), sources);
        }
    }

    @Test
    void rejectsBadArguments() {
        List<TensorSpec> one = List.of(new TensorSpec("a", DType.UINT8, 1));
        assertThrows(IllegalArgumentException.class, () -> BucketPlanner.plan(one, 7));
        assertEquals("alignment", assertThrows(PlanFormatException.class, () -> BucketPlanner.plan(one, 1024, 48)).field());
        PlanFormatException duplicate = assertThrows(PlanFormatException.class, () -> BucketPlanner.plan(
                List.of(new TensorSpec("a", DType.UINT8, 1), new TensorSpec("a", DType.INT8, 2)), 1024));
        assertEquals("tensors[1].name", duplicate.field());
        IllegalArgumentException tooManyPieces = assertThrows(IllegalArgumentException.class,
                () -> BucketPlanner.plan(List.of(new TensorSpec("huge", DType.UINT8, 1L << 40)), 8));
        assertTrue(tooManyPieces.getMessage().contains("raise the cap"), tooManyPieces.getMessage());
    }

    @Test
    void ownBucketGivesATensorAboveTheCapABucketOfItsSizeAndSplitsNothing() {
        List<TensorSpec> inventory = List.of(new TensorSpec("x", DType.UINT8, 100), new TensorSpec("big", DType.FLOAT32, 600),
                new TensorSpec("y", DType.UINT8, 10));
        BucketPlan plan = BucketPlanner.plan(inventory, 1000, 256, BucketPlanner.LargeTensors.OWN_BUCKET);
        assertEquals(List.of(piece(0, 0, 0, 0, 100)), plan.piecesOf(0));
        assertEquals(List.of(piece(1, 1, 0, 0, 2400)), plan.piecesOf(1));
        assertEquals(List.of(piece(2, 2, 0, 0, 10)), plan.piecesOf(2));
        assertEquals(2400, plan.bucketCapBytes(), "the cap grows to the largest bucket");
        PlanFixtures.assertValidLayout(plan, inventory, 2400, 256);
        assertEquals(plan, PlanCodec.decode(PlanCodec.encode(plan)), "the wire format carries it unchanged");
    }

    @Test
    void ownBucketPlansAsSplitWhenNoTensorIsAboveTheCap() {
        List<TensorSpec> inventory = PlanFixtures.randomInventory(new Random(3), 200, 8);
        long largest = inventory.stream().mapToLong(TensorSpec::byteSize).max().orElseThrow();
        BucketPlan own = BucketPlanner.plan(inventory, largest, 64, BucketPlanner.LargeTensors.OWN_BUCKET);
        assertEquals(BucketPlanner.plan(inventory, largest, 64), own);
        assertEquals(BucketPlanner.plan(inventory, 1024, 64), BucketPlanner.plan(inventory, 1024, 64,
                BucketPlanner.LargeTensors.SPLIT));
        BucketPlan small = BucketPlanner.plan(inventory, 1024, 64, BucketPlanner.LargeTensors.OWN_BUCKET);
        for (int t = 0; t < small.tensorCount(); t++) {
            assertTrue(!small.isSplit(t), inventory.get(t).toString());
        }
        PlanFixtures.assertValidLayout(small, inventory, Math.max(1024, largest), 64);
    }

    @Test
    void ownBucketRefusesATensorNoBucketMayHold() {
        IllegalArgumentException tooLarge = assertThrows(IllegalArgumentException.class, () -> BucketPlanner.plan(
                List.of(new TensorSpec("huge", DType.UINT8, BucketPlan.MAX_BUCKET_CAP + 1)), 1024, 256,
                BucketPlanner.LargeTensors.OWN_BUCKET));
        assertTrue(tooLarge.getMessage().contains("huge") && tooLarge.getMessage().contains("LargeTensors.SPLIT"),
                tooLarge.getMessage());
    }
}
