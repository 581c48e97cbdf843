package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The same 256 MiB copied from one buffer into another with one {@link MemorySegment#copy} per chunk of
 * {@code chunkKiB}: no allocation, plan or gap differs between the runs, only the size of each copy. Explains
 * {@link HostPackBenchmark}: the JDK's copy routine switches to cache-bypassing stores above a size threshold.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 5, time = 1)
public class HostCopyChunkBenchmark {
    private static final long BYTES = 256L << 20;

    /** 2559 and 2560 KiB straddle HotSpot's 2.5 MiB threshold for non-temporal stores (AVX-512 copy routine). */
    @Param({"64", "1024", "2559", "2560", "4096", "262144"})
    public long chunkKiB;

    private Arena arena;
    private MemorySegment source;
    private MemorySegment destination;

    @Setup(Level.Trial)
    public void setUp() {
        arena = Arena.ofShared();
        source = arena.allocate(BYTES, 256).fill((byte) 1);
        destination = arena.allocate(BYTES, 256).fill((byte) 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment chunkedCopy() {
        long chunk = chunkKiB << 10;
        for (long offset = 0; offset < BYTES; offset += chunk) {
            MemorySegment.copy(source, offset, destination, offset, Math.min(chunk, BYTES - offset));
        }
        return destination;
    }
}
