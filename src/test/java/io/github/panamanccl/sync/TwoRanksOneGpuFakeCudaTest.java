package io.github.panamanccl.sync;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link TwoRanksOneGpuSyncTests} over the fake CUDA runtime and fake NCCL: both ranks on the one fake GPU. */
@Tag("fake-cuda")
@Timeout(120)
class TwoRanksOneGpuFakeCudaTest extends TwoRanksOneGpuSyncTests {
    @BeforeEach
    void fakes() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
    }

    @Override
    int scale() {
        return 1;
    }

    @Override
    Duration killDeadline() {
        return Duration.ofSeconds(5);
    }
}
