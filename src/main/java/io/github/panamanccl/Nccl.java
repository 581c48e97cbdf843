package io.github.panamanccl;

import io.github.panamanccl.internal.nccl.NcclApi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Process-wide NCCL calls. Every method loads NCCL on first use ({@link LibraryUnavailableException} when it
 * is missing) and throws {@link NcclException} when a call fails.
 */
public final class Nccl {
    private Nccl() {
    }

    /** Loads NCCL if needed; every entry point of this package that calls it goes through here. */
    static void ensureLoaded() {
        NativeLibraries.ensureLoaded(NativeLibrary.NCCL);
    }

    /** ncclGetVersion, decoded. Needs no GPU. */
    public static NcclVersion version() {
        ensureLoaded();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment code = arena.allocateFrom(JAVA_INT, 0);
            NativeResults.checkNccl("ncclGetVersion", NcclApi.ncclGetVersion(code));
            return NcclVersion.fromCode(code.get(JAVA_INT, 0));
        }
    }

    /** ncclGroupStart: collectives until the matching {@link #groupEnd()} are launched together. */
    public static void groupStart() {
        ensureLoaded();
        NativeResults.checkNccl("ncclGroupStart", NcclApi.ncclGroupStart());
    }

    /**
     * ncclGroupEnd. With non-blocking communicators NCCL may answer ncclInProgress, meaning the work is
     * being launched; {@link NcclCommunicator#await} then waits for it.
     */
    public static void groupEnd() {
        ensureLoaded();
        int result = NcclApi.ncclGroupEnd();
        if (result != NcclApi.ncclInProgress()) {
            NativeResults.checkNccl("ncclGroupEnd", result);
        }
    }

    /**
     * Runs {@code body} between {@link #groupStart()} and {@link #groupEnd()}; groupEnd is called even when
     * the body throws (its own failure is then attached as suppressed).
     */
    public static void group(Runnable body) {
        Objects.requireNonNull(body, "body");
        groupStart();
        try {
            body.run();
        } catch (RuntimeException | Error failure) {
            try {
                groupEnd();
            } catch (RuntimeException endFailure) {
                failure.addSuppressed(endFailure);
            }
            throw failure;
        }
        groupEnd();
    }
}
