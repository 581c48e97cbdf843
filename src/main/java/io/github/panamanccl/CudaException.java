package io.github.panamanccl;

/**
 * A CUDA runtime call returned an error.
 * The message reads like {@code cudaMalloc failed: cudaErrorInsufficientDriver (35): CUDA driver version ...}.
 */
public final class CudaException extends PanamaNcclException {
    private static final long serialVersionUID = 1L;

    private final String call;
    private final int code;
    private final String errorName;
    private final String errorMessage;

    /**
     * Built only by this package's result check, which looks up the name and text in the runtime.
     *
     * @param call         the CUDA function that failed, e.g. {@code cudaMalloc}
     * @param code         its cudaError_t value
     * @param errorName    cudaGetErrorName of the code
     * @param errorMessage cudaGetErrorString of the code
     */
    CudaException(String call, int code, String errorName, String errorMessage) {
        super(call + " failed: " + errorName + " (" + code + "): " + errorMessage);
        this.call = call;
        this.code = code;
        this.errorName = errorName;
        this.errorMessage = errorMessage;
    }

    /** The CUDA function that failed. */
    public String call() {
        return call;
    }

    /** The cudaError_t value. */
    public int code() {
        return code;
    }

    /** The symbolic name, e.g. {@code cudaErrorInsufficientDriver}. */
    public String errorName() {
        return errorName;
    }

    /** The runtime's description of the error. */
    public String errorMessage() {
        return errorMessage;
    }
}
