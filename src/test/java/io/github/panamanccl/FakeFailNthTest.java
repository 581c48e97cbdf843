package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The fakes' "fail the n-th call" control: the calls before it run, the n-th fails once, cancelling works. */
@Tag("fake-cuda")
class FakeFailNthTest {
    private static final int INVALID_VALUE = 1;
    private static final int SYSTEM_ERROR = 2;

    @BeforeEach
    @AfterEach
    void reset() {
        assertTrue(FakeNative.cudartIsFake() && FakeNative.ncclIsFake());
        FakeNative.cudartReset();
        FakeNative.ncclReset();
    }

    @Test
    void the_third_runtime_call_fails_once_and_the_others_run() {
        FakeNative.cudartFailNth("cudaRuntimeGetVersion", 3, INVALID_VALUE);
        assertDoesNotThrow(Cuda::runtimeVersion);
        assertDoesNotThrow(Cuda::runtimeVersion);
        CudaException third = assertThrows(CudaException.class, Cuda::runtimeVersion);
        assertEquals("cudaRuntimeGetVersion", third.call());
        assertEquals(INVALID_VALUE, third.code());
        assertDoesNotThrow(Cuda::runtimeVersion, "a forced failure fires once");
        assertEquals(4, FakeNative.cudartCallCount("cudaRuntimeGetVersion"));
    }

    @Test
    void the_second_nccl_call_fails_with_the_fakes_last_error_and_n_zero_cancels() {
        FakeNative.ncclFailNth("ncclGetVersion", 2, SYSTEM_ERROR);
        assertDoesNotThrow(Nccl::version);
        NcclException second = assertThrows(NcclException.class, Nccl::version);
        assertEquals(SYSTEM_ERROR, second.code());
        assertEquals("fake_nccl: forced failure of ncclGetVersion with result 2", second.lastError());

        FakeNative.ncclFailNth("ncclGetVersion", 2, SYSTEM_ERROR);
        FakeNative.ncclFailNth("ncclGetVersion", 0, SYSTEM_ERROR); // cancels
        for (int i = 0; i < 3; i++) {
            assertDoesNotThrow(Nccl::version);
        }
        FakeNative.cudartFailNth("cudaRuntimeGetVersion", 1, INVALID_VALUE);
        assertThrows(CudaException.class, Cuda::runtimeVersion, "n = 1 is the next call, as fail-next");
    }

    @Test
    void unknown_functions_are_refused() {
        assertThrows(IllegalArgumentException.class, () -> FakeNative.ncclFailNth("ncclNoSuchCall", 1, 2));
        assertThrows(IllegalArgumentException.class, () -> FakeNative.cudartFailNth("cudaNoSuchCall", 1, 2));
    }
}
