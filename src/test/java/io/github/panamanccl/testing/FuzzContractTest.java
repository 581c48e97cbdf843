package io.github.panamanccl.testing;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The fuzz contract fails a decoder that allocates past the budget every time, but not one whose first call alone
 * did (what loading and instrumenting a class costs the first input that reaches it in a campaign).
 */
class FuzzContractTest {
    private static final byte[] INPUT = new byte[16];
    private static final int OVER_BUDGET = (int) FuzzContract.allocationBudget(INPUT.length) + (1 << 20);

    /** Keeps the arrays reachable, so the JIT cannot drop the allocations. */
    private static volatile byte[] sink;

    @Test
    void a_decoder_over_the_allocation_budget_every_time_is_a_finding() {
        AssertionFailedError e = assertThrows(AssertionFailedError.class, () -> FuzzContract.decode(INPUT,
                IllegalArgumentException.class, () -> sink = new byte[OVER_BUDGET]));
        assertTrue(e.getMessage().startsWith("decoding 16 bytes allocated "), e.getMessage());
        assertTrue(e.getMessage().contains("over the budget of " + FuzzContract.allocationBudget(INPUT.length)),
                e.getMessage());
    }

    @Test
    void a_decoder_over_the_budget_only_the_first_time_is_measured_again_and_passes() {
        AtomicInteger calls = new AtomicInteger();
        assertEquals("decoded", FuzzContract.decode(INPUT, IllegalArgumentException.class, () -> {
            if (calls.getAndIncrement() == 0) {
                sink = new byte[OVER_BUDGET];
            }
            return "decoded";
        }).orElseThrow());
        assertEquals(2, calls.get());
    }

    @Test
    void the_documented_rejection_is_an_outcome_and_anything_else_propagates() {
        IllegalArgumentException rejected = new IllegalArgumentException("bad");
        assertSame(rejected, FuzzContract.outcome(INPUT, IllegalArgumentException.class, () -> {
            throw rejected;
        }).rejection().orElseThrow());
        IllegalStateException other = new IllegalStateException("bug");
        assertSame(other, assertThrows(IllegalStateException.class, () -> FuzzContract.decode(INPUT,
                IllegalArgumentException.class, () -> {
                    throw other;
                })));
    }
}
