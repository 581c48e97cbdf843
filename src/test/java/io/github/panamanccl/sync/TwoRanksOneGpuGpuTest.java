package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link TwoRanksOneGpuSyncTests} on a real GPU with the real CUDA runtime and NCCL (tag {@code two-ranks}: the GPU
 * kit runs it as a step of its own). 54 MiB in 1 MiB buckets, far more than NCCL buffers between two ranks, so the
 * killed receiver leaves the sender inside a broadcast.
 */
@Tag("gpu")
@Tag("two-ranks")
@Timeout(180)
class TwoRanksOneGpuGpuTest extends TwoRanksOneGpuSyncTests {
    @BeforeEach
    void realGpu() {
        assertFalse(FakeNative.cudartIsFake() || FakeNative.ncclIsFake(), "needs the real CUDA runtime and NCCL");
        assertTrue(Cuda.deviceCount() >= 1, "needs a GPU");
    }

    @Override
    int scale() {
        return 16;
    }

    @Override
    Duration killDeadline() {
        return Duration.ofSeconds(15);
    }
}
