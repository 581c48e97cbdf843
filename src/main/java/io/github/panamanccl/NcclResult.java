package io.github.panamanccl;

/** Symbolic names of ncclResult_t values, our own table (NCCL has no name function). */
enum NcclResult {
    SUCCESS(0, "ncclSuccess"),
    UNHANDLED_CUDA_ERROR(1, "ncclUnhandledCudaError"),
    SYSTEM_ERROR(2, "ncclSystemError"),
    INTERNAL_ERROR(3, "ncclInternalError"),
    INVALID_ARGUMENT(4, "ncclInvalidArgument"),
    INVALID_USAGE(5, "ncclInvalidUsage"),
    REMOTE_ERROR(6, "ncclRemoteError"),
    IN_PROGRESS(7, "ncclInProgress"),
    TIMEOUT(8, "ncclTimeout");

    private final int code;
    private final String symbol;

    NcclResult(int code, String symbol) {
        this.code = code;
        this.symbol = symbol;
    }

    int code() {
        return code;
    }

    /** The C name of {@code code}; unknown codes read {@code ncclUnknownResult(<code>)}. */
    static String nameOf(int code) {
        for (NcclResult result : values()) {
            if (result.code == code) {
                return result.symbol;
            }
        }
        return "ncclUnknownResult(" + code + ")";
    }
}
