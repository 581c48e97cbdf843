package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A CUDA stream created with cudaStreamNonBlocking (it does not synchronise with the legacy default
 * stream). {@link #close()} (idempotent) destroys it; any use after close throws IllegalStateException.
 */
public final class CudaStream implements AutoCloseable {
    private final NativeHandle handle;

    private CudaStream(NativeHandle handle) {
        this.handle = handle;
    }

    /** cudaStreamCreateWithFlags(cudaStreamNonBlocking) on the current device. */
    public static CudaStream create() {
        Cuda.ensureRuntime();
        long stream = OutSlot.cudaPointer("cudaStreamCreateWithFlags",
                out -> CudaRuntimeApi.cudaStreamCreateWithFlags(out, CudaRuntimeApi.cudaStreamNonBlocking()));
        return new CudaStream(new NativeHandle("CudaStream[0x" + Long.toHexString(stream) + "]", stream, 0,
                CudaStream::destroy));
    }

    private static void destroy(MemorySegment stream) {
        NativeResults.checkCuda("cudaStreamDestroy", CudaRuntimeApi.cudaStreamDestroy(stream));
    }

    /** cudaStreamSynchronize: waits until all work queued on this stream is done. */
    public void synchronize() {
        NativeResults.checkCuda("cudaStreamSynchronize", CudaRuntimeApi.cudaStreamSynchronize(handle.segment()));
    }

    /** cudaStreamQuery: whether all work queued so far is done (cudaErrorNotReady reads as false). */
    public boolean isComplete() {
        return queryComplete("cudaStreamQuery", CudaRuntimeApi.cudaStreamQuery(handle.segment()));
    }

    /** cudaStreamWaitEvent: work queued on this stream after this call waits for {@code event}. */
    public void waitEvent(CudaEvent event) {
        Objects.requireNonNull(event, "event");
        NativeResults.checkCuda("cudaStreamWaitEvent",
                CudaRuntimeApi.cudaStreamWaitEvent(handle.segment(), event.handle(), 0));
    }

    /** The cudaStream_t, tied to this stream's lifetime; for this package's native calls. */
    MemorySegment handle() {
        return handle.segment();
    }

    /** Destroys the stream (cudaStreamDestroy); later calls do nothing. */
    @Override
    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return handle + (handle.isClosed() ? " (closed)" : "");
    }

    /** Maps a query result: success is true, cudaErrorNotReady is false, anything else throws. */
    static boolean queryComplete(String call, int code) {
        if (code == CudaRuntimeApi.cudaErrorNotReady()) {
            return false;
        }
        NativeResults.checkCuda(call, code);
        return true;
    }
}
