package io.github.panamanccl.testing;

import io.github.panamanccl.LibraryStatus;
import io.github.panamanccl.NativeLibraries;
import io.github.panamanccl.NativeLibrary;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The test controls of the native test doubles (src/test/native/fake_nccl.c, fake_cudart.c), bound with plain
 * FFM from the files in the {@code panamanccl.test.native.dir} directory. Opening the same file as the loader
 * did shares the fake's state, so counts here are the counts of the calls the code under test made.
 *
 * <p>Use {@link #cudartIsFake()} before relying on the CUDA runtime controls: only the {@code fake-cuda} test
 * execution loads the fake runtime.
 */
public final class FakeNative {
    private static final String NCCL_FILE = "libnccl.so.2";
    private static final String CUDART_FILE = "libcudart.so.13";

    private static final Linker LINKER = Linker.nativeLinker();

    private FakeNative() {
    }

    /** The directory holding the fakes ({@code panamanccl.test.native.dir}). */
    public static Path directory() {
        String directory = System.getProperty("panamanccl.test.native.dir");
        if (directory == null) {
            throw new IllegalStateException("system property panamanccl.test.native.dir is not set (run through Maven)");
        }
        return Path.of(directory).toAbsolutePath();
    }

    /** The fake libnccl.so.2. */
    public static Path ncclLibrary() {
        return directory().resolve(NCCL_FILE);
    }

    /** The fake libcudart.so.13. */
    public static Path cudartLibrary() {
        return directory().resolve(CUDART_FILE);
    }

    /** Whether the NCCL the code under test uses is the fake one (false when no fakes are configured). */
    public static boolean ncclIsFake() {
        return isLoadedFrom(NativeLibrary.NCCL, NCCL_FILE);
    }

    /** Whether the CUDA runtime the code under test uses is the fake one (the {@code fake-cuda} execution). */
    public static boolean cudartIsFake() {
        return isLoadedFrom(NativeLibrary.CUDART, CUDART_FILE);
    }

    /** False without the property: the GPU machine runs the gpu tests with no fakes configured. */
    private static boolean isLoadedFrom(NativeLibrary library, String fakeFileName) {
        if (System.getProperty("panamanccl.test.native.dir") == null) {
            return false;
        }
        Path fake = directory().resolve(fakeFileName);
        LibraryStatus status = NativeLibraries.status(library);
        if (status.path().isEmpty() || !Files.exists(fake)) {
            return false;
        }
        try {
            return Files.isSameFile(status.path().get(), fake);
        } catch (IOException unreadable) {
            throw new UncheckedIOException(unreadable);
        }
    }

    // ---- fake NCCL ----

    /** Calls of {@code function} since the last reset. */
    public static long ncclCallCount(String function) {
        return callCount(Nccl.CALL_COUNT, function, "fake NCCL");
    }

    /**
     * Zeroes the counters and payload byte counts, drops pending failures, turns hanging and the receive pause off,
     * restores the stall limit and version.
     */
    public static void ncclReset() {
        invoke(Nccl.RESET);
    }

    /** The next call of {@code function} returns {@code result} and sets the last-error text. */
    public static void ncclFailNext(String function, int result) {
        ncclCallCount(function); // rejects names the fake does not know
        try (Arena arena = Arena.ofConfined()) {
            invoke(Nccl.FAIL_NEXT, arena.allocateFrom(function), result);
        }
    }

    /**
     * The {@code n}-th call of {@code function} from now (1 = the next) returns {@code result} and sets the
     * last-error text; {@code n <= 0} cancels a pending failure. One pending failure per function: the last one set.
     */
    public static void ncclFailNth(String function, long n, int result) {
        ncclCallCount(function); // rejects names the fake does not know
        try (Arena arena = Arena.ofConfined()) {
            invoke(Nccl.FAIL_NTH, arena.allocateFrom(function), n, result);
        }
    }

    /** While true, non-blocking communicators stay ncclInProgress (to test deadlines). */
    public static void ncclSetHang(boolean hang) {
        invoke(Nccl.SET_HANG, hang ? 1 : 0);
    }

    /** A field of the last ncclConfig_t the fake read (as NCCL reads it); Long.MIN_VALUE when none. */
    public static long ncclLastConfig(String field) {
        try (Arena arena = Arena.ofConfined()) {
            return (long) invoke(Nccl.LAST_CONFIG, arena.allocateFrom(field));
        }
    }

    /** Communicators created and neither destroyed nor aborted. */
    public static long ncclLiveComms() {
        return (long) invoke(Nccl.LIVE_COMMS);
    }

    /**
     * The address of the out-parameter the calling thread last passed to {@code function} (ncclCommGetAsyncError,
     * ncclCommCount, ncclCommCuDevice, ncclCommUserRank); 0 when it passed none since the thread began.
     */
    public static long ncclLastOutAddress(String function) {
        ncclCallCount(function); // rejects names the fake does not know
        try (Arena arena = Arena.ofConfined()) {
            return (long) invoke(Nccl.LAST_OUT_ADDRESS, arena.allocateFrom(function));
        }
    }

    /** The longest a communicator waits for a peer before it fails with ncclSystemError (default 30 s). */
    public static void ncclSetStallLimit(Duration limit) {
        invoke(Nccl.SET_STALL_LIMIT_MS, limit.toMillis());
    }

    /** The version code the fake reports and rendezvous with, to play a rank of another release; 0: its own. */
    public static void ncclSetVersion(int code) {
        invoke(Nccl.SET_VERSION, code);
    }

    /**
     * This process stops reading broadcast payload after {@code bytes} more bytes (negative: never), as a rank stuck
     * in the middle of a transfer; {@link #ncclReceivingPaused()} tells when it stopped.
     */
    public static void ncclPauseReceivingAfter(long bytes) {
        invoke(Nccl.PAUSE_RECEIVING_AFTER, bytes);
    }

    /** Whether a paused receive ({@link #ncclPauseReceivingAfter}) has stopped. */
    public static boolean ncclReceivingPaused() {
        return (int) invoke(Nccl.RECEIVING_PAUSED) != 0;
    }

    /** Broadcast payload bytes this process sent to other ranks since the last reset. */
    public static long ncclPayloadBytesSent() {
        return (long) invoke(Nccl.PAYLOAD_BYTES, 0);
    }

    /** Broadcast payload bytes this process received from other ranks since the last reset. */
    public static long ncclPayloadBytesReceived() {
        return (long) invoke(Nccl.PAYLOAD_BYTES, 1);
    }

    // ---- fake CUDA runtime ----

    /** Calls of {@code function} since the last reset. */
    public static long cudartCallCount(String function) {
        return callCount(Cudart.CALL_COUNT, function, "fake CUDA runtime");
    }

    /** Zeroes the counters, drops pending failures, ends the forced busy state of streams, one device again. */
    public static void cudartReset() {
        invoke(Cudart.RESET);
    }

    /** The next call of {@code function} returns {@code result}. */
    public static void cudartFailNext(String function, int result) {
        cudartCallCount(function);
        try (Arena arena = Arena.ofConfined()) {
            invoke(Cudart.FAIL_NEXT, arena.allocateFrom(function), result);
        }
    }

    /**
     * The {@code n}-th call of {@code function} from now (1 = the next) returns {@code result}; {@code n <= 0}
     * cancels a pending failure. One pending failure per function: the last one set.
     */
    public static void cudartFailNth(String function, long n, int result) {
        cudartCallCount(function);
        try (Arena arena = Arena.ofConfined()) {
            invoke(Cudart.FAIL_NTH, arena.allocateFrom(function), n, result);
        }
    }

    /** While true, cudaStreamQuery answers cudaErrorNotReady (600). */
    public static void cudartSetStreamBusy(boolean busy) {
        invoke(Cudart.SET_STREAM_BUSY, busy ? 1 : 0);
    }

    /** cudaMalloc and cudaMallocHost blocks not yet freed. */
    public static long cudartLiveAllocations() {
        return (long) invoke(Cudart.LIVE_ALLOCATIONS);
    }

    /** The number of devices this process sees (1 to 64; a reset makes it 1 again); device d is 0000:(fa+d):00.0. */
    public static void cudartSetDeviceCount(int count) {
        if ((int) invoke(Cudart.SET_DEVICE_COUNT, count) != 0) {
            throw new IllegalArgumentException("the fake CUDA runtime models 1 to 64 devices, not " + count);
        }
    }

    private static long callCount(MethodHandle handle, String function, String library) {
        long count;
        try (Arena arena = Arena.ofConfined()) {
            count = (long) invoke(handle, arena.allocateFrom(function));
        }
        if (count < 0) {
            throw new IllegalArgumentException(library + " does not implement " + function);
        }
        return count;
    }

    private static Object invoke(MethodHandle handle, Object... arguments) {
        try {
            return handle.invokeWithArguments(arguments);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    @SuppressWarnings("restricted") // the test doubles' own controls, with the signatures of their C sources
    private static MethodHandle bind(SymbolLookup lookup, String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = lookup.find(name)
                .orElseThrow(() -> new IllegalStateException("the fake library has no " + name));
        return LINKER.downcallHandle(symbol, descriptor);
    }

    /** Bound on first use, so tests that only need the fake NCCL never open the fake runtime. */
    @SuppressWarnings("restricted") // opens the fake library, as the loader under test does
    private static final class Nccl {
        private static final SymbolLookup LOOKUP = SymbolLookup.libraryLookup(ncclLibrary(), Arena.global());
        static final MethodHandle CALL_COUNT = bind(LOOKUP, "fake_nccl_call_count", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        static final MethodHandle RESET = bind(LOOKUP, "fake_nccl_reset", FunctionDescriptor.ofVoid());
        static final MethodHandle FAIL_NEXT = bind(LOOKUP, "fake_nccl_fail_next", FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT));
        static final MethodHandle FAIL_NTH = bind(LOOKUP, "fake_nccl_fail_nth",
                FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT));
        static final MethodHandle SET_HANG = bind(LOOKUP, "fake_nccl_set_hang", FunctionDescriptor.ofVoid(JAVA_INT));
        static final MethodHandle LAST_CONFIG = bind(LOOKUP, "fake_nccl_last_config", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        static final MethodHandle LIVE_COMMS = bind(LOOKUP, "fake_nccl_live_comms", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle LAST_OUT_ADDRESS = bind(LOOKUP, "fake_nccl_last_out_address",
                FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        static final MethodHandle SET_STALL_LIMIT_MS = bind(LOOKUP, "fake_nccl_set_stall_limit_ms",
                FunctionDescriptor.ofVoid(JAVA_LONG));
        static final MethodHandle SET_VERSION = bind(LOOKUP, "fake_nccl_set_version", FunctionDescriptor.ofVoid(JAVA_INT));
        static final MethodHandle PAUSE_RECEIVING_AFTER = bind(LOOKUP, "fake_nccl_pause_receiving_after",
                FunctionDescriptor.ofVoid(JAVA_LONG));
        static final MethodHandle RECEIVING_PAUSED = bind(LOOKUP, "fake_nccl_receiving_paused", FunctionDescriptor.of(JAVA_INT));
        static final MethodHandle PAYLOAD_BYTES = bind(LOOKUP, "fake_nccl_payload_bytes",
                FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
    }

    @SuppressWarnings("restricted") // opens the fake library, as the loader under test does
    private static final class Cudart {
        private static final SymbolLookup LOOKUP = SymbolLookup.libraryLookup(cudartLibrary(), Arena.global());
        static final MethodHandle CALL_COUNT = bind(LOOKUP, "fake_cudart_call_count", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        static final MethodHandle RESET = bind(LOOKUP, "fake_cudart_reset", FunctionDescriptor.ofVoid());
        static final MethodHandle FAIL_NEXT = bind(LOOKUP, "fake_cudart_fail_next", FunctionDescriptor.ofVoid(ADDRESS, JAVA_INT));
        static final MethodHandle FAIL_NTH = bind(LOOKUP, "fake_cudart_fail_nth",
                FunctionDescriptor.ofVoid(ADDRESS, JAVA_LONG, JAVA_INT));
        static final MethodHandle SET_STREAM_BUSY = bind(LOOKUP, "fake_cudart_set_stream_busy", FunctionDescriptor.ofVoid(JAVA_INT));
        static final MethodHandle LIVE_ALLOCATIONS = bind(LOOKUP, "fake_cudart_live_allocations", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle SET_DEVICE_COUNT = bind(LOOKUP, "fake_cudart_set_device_count",
                FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    }
}
