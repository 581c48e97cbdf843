package io.github.panamanccl.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.cli.SyntheticWeights;

/**
 * The bytes of a model, a sender copy and one copy per receiver, moved by plain loopback TCP ({@link LoopbackLink}):
 * the physical limit the host transport's benchmarks are drawn against. Either one contiguous region of the model's
 * bytes cut into pieces of a given size, or the model's own tensors (one allocation each) moved with gathering
 * writes and scattering reads. Every receiver's bytes are checked once, when it starts.
 */
final class LoopbackLimit implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final LoopbackLink.Writes writes;
    private final List<List<MemorySegment>> destinations = new ArrayList<>();
    private List<MemorySegment> source;
    private LoopbackLink link;

    private LoopbackLimit(LoopbackLink.Writes writes) {
        this.writes = writes;
    }

    /** {@code bytes} in one region per rank, written and read {@code pieceBytes} per system call. */
    static LoopbackLimit contiguous(long bytes, long pieceBytes, int receivers, Duration timeout) {
        return start(arena -> LoopbackLink.cut(arena.allocate(bytes, 4096), pieceBytes),
                LoopbackLink.Writes.ONE_PIECE_PER_CALL, receivers, timeout);
    }

    /** The tensors in one allocation each per rank, moved with gathering writes and scattering reads. */
    static LoopbackLimit tensors(List<TensorSpec> tensors, int receivers, Duration timeout) {
        return start(arena -> List.of(SyntheticWeights.allocate(tensors, arena)), LoopbackLink.Writes.GATHERING,
                receivers, timeout);
    }

    private static LoopbackLimit start(Function<Arena, List<MemorySegment>> allocate, LoopbackLink.Writes writes,
                                       int receivers, Duration timeout) {
        LoopbackLimit limit = new LoopbackLimit(writes);
        try {
            limit.source = allocate.apply(limit.arena);
            SyntheticWeights.fill(limit.source.toArray(MemorySegment[]::new), 1);
            for (int r = 0; r < receivers; r++) {
                limit.destinations.add(allocate.apply(limit.arena));
            }
            limit.link = LoopbackLink.open(receivers, timeout);
            limit.send();
            limit.checkReceived();
            return limit;
        } catch (RuntimeException e) {
            limit.close();
            throw e;
        }
    }

    /** Moves the model to every receiver once; returns the bytes each received. */
    long send() {
        return link.transfer(source, destinations, writes);
    }

    long bytes() {
        return LoopbackLink.totalBytes(source);
    }

    private void checkReceived() {
        for (int r = 0; r < destinations.size(); r++) {
            for (int p = 0; p < source.size(); p++) {
                long mismatch = MemorySegment.mismatch(source.get(p), 0, source.get(p).byteSize(),
                        destinations.get(r).get(p), 0, destinations.get(r).get(p).byteSize());
                if (mismatch >= 0) {
                    throw new IllegalStateException("receiver " + r + " piece " + p + " differs from the sender's at byte "
                            + mismatch);
                }
            }
        }
    }

    @Override
    public void close() {
        if (link != null) {
            link.close();
        }
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
