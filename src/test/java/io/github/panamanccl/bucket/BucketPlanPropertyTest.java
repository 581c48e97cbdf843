package io.github.panamanccl.bucket;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

/** Round trips and invariants over random inventories, caps and alignments. */
class BucketPlanPropertyTest {

    private static long alignmentOf(int log2) {
        return 1L << log2;
    }

    @Property(tries = 200)
    void planIsValidTightAndDeterministic(@ForAll long seed, @ForAll @IntRange(max = 80) int count,
                                          @ForAll @LongRange(min = 8, max = 20_000) long cap,
                                          @ForAll @IntRange(max = 9) int alignmentLog2) {
        long alignment = alignmentOf(alignmentLog2);
        List<TensorSpec> inventory = PlanFixtures.randomInventory(new Random(seed), count, 40);
        BucketPlan plan = BucketPlanner.plan(inventory, cap, alignment);
        PlanFixtures.assertValidLayout(plan, inventory, cap, alignment);
        PlanFixtures.assertTightPacking(plan);
        BucketPlan again = BucketPlanner.plan(List.copyOf(inventory), cap, alignment);
        assertNotSame(plan, again);
        assertEquals(plan, again);
        assertArrayEquals(PlanCodec.encode(plan), PlanCodec.encode(again));
        assertEquals(plan.fingerprint(), again.fingerprint());
    }

    @Property(tries = 200)
    void binaryAndJsonRoundTrips(@ForAll long seed, @ForAll @IntRange(max = 80) int count,
                                 @ForAll @LongRange(min = 8, max = 20_000) long cap,
                                 @ForAll @IntRange(max = 9) int alignmentLog2) {
        List<TensorSpec> inventory = PlanFixtures.randomInventory(new Random(seed), count, 40);
        BucketPlan plan = BucketPlanner.plan(inventory, cap, alignmentOf(alignmentLog2));
        byte[] encoded = PlanCodec.encode(plan);
        BucketPlan decoded = PlanCodec.decode(encoded);
        assertEquals(plan, decoded);
        assertArrayEquals(encoded, PlanCodec.encode(decoded));
        assertEquals(plan.fingerprint(), decoded.fingerprint());
        BucketPlan imported = PlanJson.fromJson(PlanJson.toJson(plan));
        assertEquals(plan, imported);
    }

    @Property(tries = 100)
    void packThenScatterIsByteExact(@ForAll long seed, @ForAll @IntRange(max = 40) int count,
                                    @ForAll @LongRange(min = 8, max = 5_000) long cap,
                                    @ForAll @IntRange(max = 9) int alignmentLog2) {
        List<TensorSpec> inventory = PlanFixtures.randomInventory(new Random(seed), count, 30);
        BucketPlan plan = BucketPlanner.plan(inventory, cap, alignmentOf(alignmentLog2));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            MemorySegment[] buckets = PlanFixtures.packAll(arena, plan, sources);
            MemorySegment[] repacked = PlanFixtures.packAll(arena, plan, sources);
            for (int b = 0; b < buckets.length; b++) {
                assertEquals(-1, MemorySegment.mismatch(buckets[b], 0, plan.bucketByteSize(b),
                        repacked[b], 0, plan.bucketByteSize(b)), "bucket " + b + " byte-deterministic");
            }
            PlanFixtures.assertScatterRestores(arena, plan, buckets, sources);
        }
    }

    /** Tens of thousands of tensors: few tries, the whole chain. */
    @Property(tries = 3)
    void manyTensors(@ForAll long seed, @ForAll @IntRange(min = 20_000, max = 40_000) int count) {
        List<TensorSpec> inventory = PlanFixtures.randomInventory(new Random(seed), count, 12);
        long cap = 16 << 10;
        BucketPlan plan = BucketPlanner.plan(inventory, cap, 256);
        PlanFixtures.assertValidLayout(plan, inventory, cap, 256);
        PlanFixtures.assertTightPacking(plan);
        assertEquals(plan, PlanCodec.decode(PlanCodec.encode(plan)));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, inventory);
            PlanFixtures.assertScatterRestores(arena, plan, PlanFixtures.packAll(arena, plan, sources), sources);
        }
    }
}
