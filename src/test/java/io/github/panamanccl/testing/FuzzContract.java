package io.github.panamanccl.testing;

import com.code_intelligence.jazzer.api.BugDetectors;

import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The contract of a fuzz target over a decoder of untrusted bytes: the decoder returns a value or throws its
 * documented rejection, allocates on the calling thread at most {@link #allocationBudget} for the input, and
 * spends at most {@link #CPU_BUDGET_NANOS} of that thread's CPU time (CPU time, so the check holds on a loaded
 * machine). Any other exception propagates, which Jazzer reports as a finding and keeps the input of.
 */
public final class FuzzContract {
    /** A fixed allowance per call: first-call class initialisation and caches. */
    static final long BASE_ALLOCATION_BYTES = 8L << 20;
    /** Allowance per input byte: the objects a valid input turns into are a few dozen times its size. */
    static final long ALLOCATION_BYTES_PER_INPUT_BYTE = 256;
    /** CPU time one decode may take; inputs are kilobytes, decoding them takes microseconds. */
    public static final long CPU_BUDGET_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Whether a decoder has run in this JVM; see {@link #outcome}. */
    private static boolean warmedUp;

    private FuzzContract() {
    }

    /** What a decoder made of an input: a value or the documented rejection. */
    public record Outcome<T, X extends RuntimeException>(Optional<T> value, Optional<X> rejection) {
    }

    /**
     * Runs {@code decoder}, which reads {@code input}.
     *
     * @return the decoded value, or empty when the decoder threw {@code rejection}
     */
    public static <T> Optional<T> decode(byte[] input, Class<? extends RuntimeException> rejection,
                                         Supplier<T> decoder) {
        return outcome(input, rejection, decoder).value();
    }

    /**
     * As {@link #decode}, keeping the rejection. {@code decoder} must give the same outcome each time it is called:
     * the first call in a JVM runs it once unmeasured, because with Jazzer's hooks on (a campaign) that first call
     * also pays for setting up the coverage instrumentation, tens of megabytes that no input caused.
     */
    public static <T, X extends RuntimeException> Outcome<T, X> outcome(byte[] input, Class<X> rejection,
                                                                        Supplier<T> decoder) {
        if (!warmedUp) {
            warmedUp = true;
            try {
                decoder.get();
            } catch (RuntimeException | AssertionError ignored) {
                // the measured call below reports it
            }
        }
        long before = THREADS.getCurrentThreadAllocatedBytes();
        long cpuBefore = THREADS.getCurrentThreadCpuTime();
        Outcome<T, X> outcome;
        try {
            outcome = new Outcome<>(Optional.of(decoder.get()), Optional.empty());
        } catch (RuntimeException e) {
            if (!rejection.isInstance(e)) {
                throw e;
            }
            outcome = new Outcome<>(Optional.empty(), Optional.of(rejection.cast(e)));
        }
        long cpu = THREADS.getCurrentThreadCpuTime() - cpuBefore;
        long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated <= allocationBudget(input.length), () -> "decoding " + input.length + " bytes allocated "
                + allocated + " bytes, over the budget of " + allocationBudget(input.length) + "; " + start(input));
        assertTrue(cpu <= CPU_BUDGET_NANOS, () -> "decoding " + input.length + " bytes took "
                + TimeUnit.NANOSECONDS.toMillis(cpu) + " ms of CPU time; " + start(input));
        return outcome;
    }

    /**
     * Lets a fuzz target talk over loopback sockets: while fuzzing, Jazzer reports any other connection as
     * server-side request forgery. Call it in the target (the bug detectors exist once Jazzer has started); in
     * regression mode they do not run, and touching them would only make Jazzer allocate their counters.
     */
    public static void allowLoopbackConnections() {
        if (System.getenv("JAZZER_FUZZ") == null) {
            return;
        }
        InetAddress loopback = InetAddress.getLoopbackAddress();
        BugDetectors.allowNetworkConnections((host, port) -> host.equals(loopback.getHostName())
                || host.equals(loopback.getHostAddress()));
    }

    private static String start(byte[] input) {
        return "input starts " + HexFormat.of().formatHex(input, 0, Math.min(input.length, 64));
    }

    /** At most this many bytes may be allocated to decode {@code inputBytes} bytes. */
    public static long allocationBudget(long inputBytes) {
        return BASE_ALLOCATION_BYTES + ALLOCATION_BYTES_PER_INPUT_BYTE * inputBytes;
    }
}
