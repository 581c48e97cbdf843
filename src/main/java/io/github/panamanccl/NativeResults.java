package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;
import io.github.panamanccl.internal.nccl.NcclApi;

import java.lang.foreign.MemorySegment;
import java.time.Duration;

/** The one place that turns CUDA and NCCL return codes into exceptions. */
final class NativeResults {
    /** cudaGetErrorString/cudaGetErrorName/ncclGetErrorString return short, NUL-terminated, static text. */
    private static final long MAX_ERROR_TEXT = 4096;

    private NativeResults() {
    }

    /** Throws {@link CudaException} unless {@code code} is cudaSuccess. */
    static void checkCuda(String call, int code) {
        if (code != CudaRuntimeApi.cudaSuccess()) {
            throw cudaException(call, code);
        }
    }

    /** The exception for a failed CUDA call: call name, code, cudaGetErrorName, cudaGetErrorString. */
    static CudaException cudaException(String call, int code) {
        return new CudaException(call, code, cudaErrorName(code), cudaErrorString(code));
    }

    static String cudaErrorName(int code) {
        return text(CudaRuntimeApi.cudaGetErrorName(code));
    }

    static String cudaErrorString(int code) {
        return text(CudaRuntimeApi.cudaGetErrorString(code));
    }

    /** Throws {@link NcclException} unless {@code code} is ncclSuccess; for calls without a communicator. */
    static void checkNccl(String call, int code) {
        checkNccl(call, code, MemorySegment.NULL);
    }

    /** Throws {@link NcclException} unless {@code code} is ncclSuccess. */
    static void checkNccl(String call, int code, MemorySegment comm) {
        if (code != NcclApi.ncclSuccess()) {
            throw ncclException(call, code, comm);
        }
    }

    /**
     * The exception for a failed NCCL call: call name, code, our symbolic name, ncclGetErrorString and
     * ncclGetLastError (NCCL keeps the last error per process; a NULL communicator is accepted).
     */
    static NcclException ncclException(String call, int code, MemorySegment comm) {
        return new NcclException(call, code, NcclResult.nameOf(code), ncclErrorString(code), ncclLastError(comm));
    }

    /** The exception for a deadline that passed while NCCL still reported {@code lastState}. */
    static NcclTimeoutException ncclTimeout(String call, Duration deadline, int lastState,
                                            MemorySegment comm) {
        return new NcclTimeoutException(call, deadline, lastState, NcclResult.nameOf(lastState),
                ncclErrorString(lastState), ncclLastError(comm));
    }

    /**
     * The exception for an operation that {@link NcclCommunicator#abort()} ended while it was in progress. NCCL's
     * last error is not read: it says nothing about an abort the application asked for.
     */
    static NcclAbortedException ncclAborted(String call) {
        int inProgress = NcclApi.ncclInProgress();
        return new NcclAbortedException(call, inProgress, NcclResult.nameOf(inProgress), ncclErrorString(inProgress));
    }

    static String ncclErrorString(int code) {
        return text(NcclApi.ncclGetErrorString(code));
    }

    static String ncclLastError(MemorySegment comm) {
        return text(NcclApi.ncclGetLastError(comm));
    }

    /** Reads a C string the library owns; NULL reads as empty. */
    @SuppressWarnings("restricted") // the library's error text: read, never written, and at most MAX_ERROR_TEXT bytes
    private static String text(MemorySegment cString) {
        if (cString.equals(MemorySegment.NULL)) {
            return "";
        }
        return cString.reinterpret(MAX_ERROR_TEXT).getString(0);
    }
}
