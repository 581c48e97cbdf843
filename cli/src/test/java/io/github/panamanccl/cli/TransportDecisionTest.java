package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Optional;

import io.github.panamanccl.Cuda;

import org.junit.jupiter.api.Test;

/** Without a GPU (this machine), auto falls back to the host transport and says why; nccl refuses. */
class TransportDecisionTest {
    @Test
    void hostIsTakenWhenAskedFor() {
        TransportDecision decision = TransportDecision.decide(TransportChoice.HOST, 3);

        assertFalse(decision.nccl());
        assertTrue(decision.reason().orElseThrow().contains("--transport host"));
    }

    @Test
    void autoFallsBackToTheHostTransportNamingTheMissingPiece() {
        assumeTrue(Cuda.probeDevices().count() == 0, "this machine has a GPU");

        TransportDecision decision = TransportDecision.decide(TransportChoice.AUTO, 2);

        assertFalse(decision.nccl());
        String reason = decision.reason().orElseThrow();
        assertTrue(reason.contains("no CUDA device") || reason.contains("libnccl.so.2 not found"), reason);
    }

    @Test
    void oneGpuPerRankIsRequired() {
        Optional<String> blocker = TransportDecision.ncclBlocker(Cuda.probeDevices().count() + 1);

        assertTrue(blocker.isPresent(), "more ranks than GPUs cannot run NCCL");
    }

    @Test
    void ncclIsRefusedWhereItCannotRun() {
        assumeTrue(Cuda.probeDevices().count() == 0, "this machine has a GPU");

        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> TransportDecision.decide(TransportChoice.NCCL, 2));

        assertTrue(refused.getMessage().startsWith("--transport nccl cannot run here: "), refused.getMessage());
    }
}
