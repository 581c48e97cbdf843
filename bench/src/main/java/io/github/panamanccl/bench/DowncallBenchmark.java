package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.NativeLibraries;
import io.github.panamanccl.NativeLibrary;
import io.github.panamanccl.internal.cuda.CudaRuntimeApi;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Cost of one trivial CUDA runtime call (cudaRuntimeGetVersion, no GPU needed) made through FFM, against the
 * same call made from a C loop ({@code cLoop}: one downcall runs {@value #LOOP_CALLS} C calls, so its score is
 * the C cost per call). The ratio ffm / cLoop is what the FFM transition adds.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class DowncallBenchmark {
    static final int LOOP_CALLS = 100_000;

    private Arena arena;
    private MemorySegment versionOut;
    private final MemorySegment heapVersionOut = MemorySegment.ofArray(new int[1]);
    private MethodHandle cLoopRun;

    @Setup(Level.Trial)
    @SuppressWarnings("restricted") // binding the C loop is the benchmark; native access is enabled for the run
    public void setUp() throws Throwable {
        NativeLibraries.ensureLoaded(NativeLibrary.CUDART);
        // dlopen of the loaded path (or soname) hands the C loop the very library the JVM loaded.
        String cudart = NativeLibraries.status(NativeLibrary.CUDART).path().map(Path::toString)
                .orElse(NativeLibrary.CUDART.soname());
        arena = Arena.ofConfined();
        versionOut = arena.allocate(ValueLayout.JAVA_INT);

        Linker linker = Linker.nativeLinker();
        SymbolLookup loop = SymbolLookup.libraryLookup(BenchNative.artefact("libdowncall_loop.so"), arena);
        MethodHandle init = linker.downcallHandle(loop.find("downcall_loop_init").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS));
        cLoopRun = linker.downcallHandle(loop.find("downcall_loop_run").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
        int initResult = (int) init.invokeExact(arena.allocateFrom(cudart));
        if (initResult != 0) {
            throw new IllegalStateException("downcall_loop_init could not load cudaRuntimeGetVersion from " + cudart);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    /** The generated jextract binding, preallocated out-parameter. */
    @Benchmark
    public int ffmGenerated() {
        return CudaRuntimeApi.cudaRuntimeGetVersion(versionOut);
    }

    /** The same symbol and descriptor re-linked with Linker.Option.critical(false): no thread-state transition. */
    @Benchmark
    public int ffmCritical() throws Throwable {
        return (int) CriticalRuntimeGetVersion.HANDLE.invokeExact(versionOut);
    }

    /** Re-linked with Linker.Option.critical(true), which also lets the out-parameter live in a Java array. */
    @Benchmark
    public int ffmCriticalHeap() throws Throwable {
        return (int) CriticalHeapRuntimeGetVersion.HANDLE.invokeExact(heapVersionOut);
    }

    /** The public API: checks the result and maps errors, allocating its out-parameter per call. */
    @Benchmark
    public int publicApi() {
        return Cuda.runtimeVersion();
    }

    /** The same call made {@value #LOOP_CALLS} times from C; JMH divides by the operations per invocation. */
    @Benchmark
    @OperationsPerInvocation(LOOP_CALLS)
    public long cLoop() throws Throwable {
        return (long) cLoopRun.invokeExact((long) LOOP_CALLS);
    }

    /** Linked on first use, i.e. after setUp loaded libcudart, and constant-folded by the JIT like the generated handle. */
    @SuppressWarnings("restricted") // re-links a generated binding's own symbol and descriptor
    private static final class CriticalRuntimeGetVersion {
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(
                CudaRuntimeApi.cudaRuntimeGetVersion$address(),
                CudaRuntimeApi.cudaRuntimeGetVersion$descriptor(),
                Linker.Option.critical(false));
    }

    @SuppressWarnings("restricted") // as CriticalRuntimeGetVersion
    private static final class CriticalHeapRuntimeGetVersion {
        static final MethodHandle HANDLE = Linker.nativeLinker().downcallHandle(
                CudaRuntimeApi.cudaRuntimeGetVersion$address(),
                CudaRuntimeApi.cudaRuntimeGetVersion$descriptor(),
                Linker.Option.critical(true));
    }
}
