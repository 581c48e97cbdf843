package io.github.panamanccl.bucket;

import io.github.panamanccl.testing.Seed;
import io.github.panamanccl.testing.SeededCases;
import org.junit.jupiter.params.ParameterizedTest;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;

/** Round trips and invariants over random inventories, caps and alignments (cases: {@link SeededCases}). */
class BucketPlanPropertyTest {

    /** 1 to 512. */
    private static long randomAlignment(SplittableRandom random) {
        return 1L << Seed.intIn(random, 0, 9);
    }

    /** A plan of up to {@code maxTensors} random tensors, a cap of 8 to {@code maxCap} bytes, any alignment. */
    private static BucketPlan randomPlan(SplittableRandom random, int maxTensors, int maxDim, long maxCap) {
        List<TensorSpec> inventory = PlanFixtures.randomInventory(random, Seed.intIn(random, 0, maxTensors), maxDim);
        return BucketPlanner.plan(inventory, Seed.longIn(random, 8, maxCap), randomAlignment(random));
    }

    @ParameterizedTest
    @SeededCases(200)
    void planIsValidTightAndDeterministic(Seed seed) {
        SplittableRandom random = seed.random();
        List<TensorSpec> inventory = PlanFixtures.randomInventory(random, Seed.intIn(random, 0, 80), 40);
        long cap = Seed.longIn(random, 8, 20_000);
        long alignment = randomAlignment(random);
        BucketPlan plan = BucketPlanner.plan(inventory, cap, alignment);
        PlanFixtures.assertValidLayout(plan, inventory, cap, alignment);
        PlanFixtures.assertTightPacking(plan);
        BucketPlan again = BucketPlanner.plan(List.copyOf(inventory), cap, alignment);
        assertNotSame(plan, again);
        assertEquals(plan, again);
        assertArrayEquals(PlanCodec.encode(plan), PlanCodec.encode(again));
        assertEquals(plan.fingerprint(), again.fingerprint());
    }

    @ParameterizedTest
    @SeededCases(200)
    void binaryAndJsonRoundTrips(Seed seed) {
        BucketPlan plan = randomPlan(seed.random(), 80, 40, 20_000);
        byte[] encoded = PlanCodec.encode(plan);
        BucketPlan decoded = PlanCodec.decode(encoded);
        assertEquals(plan, decoded);
        assertArrayEquals(encoded, PlanCodec.encode(decoded));
        assertEquals(plan.fingerprint(), decoded.fingerprint());
        BucketPlan imported = PlanJson.fromJson(PlanJson.toJson(plan));
        assertEquals(plan, imported);
    }

    @ParameterizedTest
    @SeededCases(100)
    void packThenScatterIsByteExact(Seed seed) {
        BucketPlan plan = randomPlan(seed.random(), 40, 30, 5_000);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] sources = PlanFixtures.sources(arena, plan.tensors());
            MemorySegment[] buckets = PlanFixtures.packAll(arena, plan, sources);
            MemorySegment[] repacked = PlanFixtures.packAll(arena, plan, sources);
            for (int b = 0; b < buckets.length; b++) {
                assertEquals(-1, MemorySegment.mismatch(buckets[b], 0, plan.bucketByteSize(b),
                        repacked[b], 0, plan.bucketByteSize(b)), "bucket " + b + " byte-deterministic");
            }
            PlanFixtures.assertScatterRestores(arena, plan, buckets, sources);
        }
    }

    /** Tens of thousands of tensors: few cases, the whole chain. */
    @ParameterizedTest
    @SeededCases(3)
    void manyTensors(Seed seed) {
        SplittableRandom random = seed.random();
        List<TensorSpec> inventory = PlanFixtures.randomInventory(random, Seed.intIn(random, 20_000, 40_000), 12);
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
