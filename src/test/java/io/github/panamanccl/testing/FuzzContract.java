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
    /** A fixed allowance per call: class initialisation and caches. */
    static final long BASE_ALLOCATION_BYTES = 8L << 20;
    /** Allowance per input byte: the objects a valid input turns into are a few dozen times its size. */
    static final long ALLOCATION_BYTES_PER_INPUT_BYTE = 256;
    /** CPU time one decode may take; inputs are kilobytes, decoding them takes microseconds. */
    public static final long CPU_BUDGET_NANOS = TimeUnit.SECONDS.toNanos(1);

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

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
     * a call over a budget is measured again, and only the second measurement counts, because with Jazzer's hooks on
     * (a campaign) the first input to reach a class also pays for loading and instrumenting it, megabytes that no
     * input caused; an input that really costs too much costs it again.
     */
    public static <T, X extends RuntimeException> Outcome<T, X> outcome(byte[] input, Class<X> rejection,
                                                                        Supplier<T> decoder) {
        Measured<T, X> first = measure(rejection, decoder);
        Measured<T, X> judged = first.within(input.length) ? first : measure(rejection, decoder);
        assertTrue(judged.allocated <= allocationBudget(input.length), () -> "decoding " + input.length
                + " bytes allocated " + judged.allocated + " bytes (the first time " + first.allocated + "), over the"
                + " budget of " + allocationBudget(input.length) + "; " + start(input));
        assertTrue(judged.cpuNanos <= CPU_BUDGET_NANOS, () -> "decoding " + input.length + " bytes took "
                + TimeUnit.NANOSECONDS.toMillis(judged.cpuNanos) + " ms of CPU time (the first time "
                + TimeUnit.NANOSECONDS.toMillis(first.cpuNanos) + " ms); " + start(input));
        return judged.outcome;
    }

    /** One call of a decoder: what it gave, and what it cost the calling thread. */
    private record Measured<T, X extends RuntimeException>(Outcome<T, X> outcome, long allocated, long cpuNanos) {
        boolean within(int inputBytes) {
            return allocated <= allocationBudget(inputBytes) && cpuNanos <= CPU_BUDGET_NANOS;
        }
    }

    private static <T, X extends RuntimeException> Measured<T, X> measure(Class<X> rejection, Supplier<T> decoder) {
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
        return new Measured<>(outcome, THREADS.getCurrentThreadAllocatedBytes() - before,
                THREADS.getCurrentThreadCpuTime() - cpuBefore);
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
