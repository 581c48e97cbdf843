package io.github.panamanccl;

/**
 * What {@link NcclCommunicator} counted in this JVM, for tests in other packages that run on the real NCCL, where
 * nothing else can tell that a communicator was aborted (over the fakes, {@code FakeNative} counts the native calls).
 */
public final class CommunicatorCounts {
    private CommunicatorCounts() {
    }

    /** Communicators begun and neither destroyed nor aborted. */
    public static int live() {
        return NcclCommunicator.live();
    }

    /** ncclCommAbort calls that succeeded. */
    public static long aborted() {
        return NcclCommunicator.aborted();
    }
}
