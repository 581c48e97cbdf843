package io.github.panamanccl;

import io.github.panamanccl.internal.cuda.CudaRuntimeApi;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;

/**
 * A CUDA event: a marker recorded on a stream, to wait for or (when created with timing) to time work.
 * {@link #close()} (idempotent) destroys it; any use after close throws IllegalStateException.
 */
public final class CudaEvent implements AutoCloseable {
    private final NativeHandle handle;

    private CudaEvent(NativeHandle handle) {
        this.handle = handle;
    }

    /**
     * cudaEventCreateWithFlags.
     *
     * @param timing whether {@link #elapsedMillis} may be used; events without timing are cheaper to record
     */
    public static CudaEvent create(boolean timing) {
        Cuda.ensureRuntime();
        int flags = timing ? CudaRuntimeApi.cudaEventDefault() : CudaRuntimeApi.cudaEventDisableTiming();
        long event = OutSlot.cudaPointer("cudaEventCreateWithFlags",
                out -> CudaRuntimeApi.cudaEventCreateWithFlags(out, flags));
        return new CudaEvent(new NativeHandle("CudaEvent[0x" + Long.toHexString(event) + (timing ? ", timing]" : "]"),
                event, 0, CudaEvent::destroy));
    }

    private static void destroy(MemorySegment event) {
        NativeResults.checkCuda("cudaEventDestroy", CudaRuntimeApi.cudaEventDestroy(event));
    }

    /** cudaEventRecord: marks the current end of {@code stream}'s queued work. */
    public void record(CudaStream stream) {
        Objects.requireNonNull(stream, "stream");
        NativeResults.checkCuda("cudaEventRecord", CudaRuntimeApi.cudaEventRecord(handle.segment(), stream.handle()));
    }

    /** cudaEventSynchronize: waits until the work before the recorded point is done. */
    public void synchronize() {
        NativeResults.checkCuda("cudaEventSynchronize", CudaRuntimeApi.cudaEventSynchronize(handle.segment()));
    }

    /** cudaEventQuery: whether the recorded work is done (an event never recorded counts as done). */
    public boolean isComplete() {
        return CudaStream.queryComplete("cudaEventQuery", CudaRuntimeApi.cudaEventQuery(handle.segment()));
    }

    /** cudaEventElapsedTime: milliseconds between two completed timing events. */
    public static float elapsedMillis(CudaEvent start, CudaEvent end) {
        Objects.requireNonNull(start, "start");
        Objects.requireNonNull(end, "end");
        MemorySegment millis = OutSlot.zeroed(JAVA_FLOAT.byteSize());
        NativeResults.checkCuda("cudaEventElapsedTime",
                CudaRuntimeApi.cudaEventElapsedTime(millis, start.handle(), end.handle()));
        return millis.get(JAVA_FLOAT, 0);
    }

    /** The cudaEvent_t, tied to this event's lifetime; for this package's native calls. */
    MemorySegment handle() {
        return handle.segment();
    }

    /** Destroys the event (cudaEventDestroy); later calls do nothing. */
    @Override
    public void close() {
        handle.close();
    }

    @Override
    public String toString() {
        return handle + (handle.isClosed() ? " (closed)" : "");
    }
}
