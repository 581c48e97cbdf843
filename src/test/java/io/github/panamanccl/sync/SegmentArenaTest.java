package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.TensorSpec;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The builders take only segments the sync's own threads can use: a confined or closed arena's segment is refused
 * when it is handed over, naming the tensor and the arenas that work, not at the first publish with a
 * WrongThreadException.
 */
class SegmentArenaTest {
    private static final TensorSpec WEIGHT = new TensorSpec("layers.0.weight", DType.BFLOAT16, 4, 8);
    private static final String CONFINED = " is confined to one thread (Arena.ofConfined()), but the sync copies it on"
            + " threads of its own. Allocate it from Arena.ofShared(), Arena.ofAuto() or Arena.global(), or use a heap"
            + " segment (MemorySegment.ofArray)";

    private static final List<Builder> BUILDERS = List.of(
            new Builder("hostSources", segments -> WeightSender.builder().hostSources(segments)),
            new Builder("scatterInto", segments -> WeightReceiver.builder().scatterInto(segments)));

    private record Builder(String method, Consumer<Map<String, MemorySegment>> take) {
    }

    @Test
    void a_confined_segment_is_refused_by_both_builders_naming_the_tensor_and_the_arenas_that_work() {
        try (Arena confined = Arena.ofConfined(); Arena shared = Arena.ofShared()) {
            Map<String, MemorySegment> segments = Map.of("bias", shared.allocate(16),
                    WEIGHT.name(), confined.allocate(WEIGHT.byteSize()));
            for (Builder builder : BUILDERS) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> builder.take().accept(segments), builder.method());
                assertEquals(builder.method() + ": the segment of tensor " + WEIGHT.name() + CONFINED, e.getMessage());
            }
        }
    }

    @Test
    void a_segment_of_a_closed_arena_is_refused() {
        Arena closed = Arena.ofShared();
        MemorySegment segment = closed.allocate(WEIGHT.byteSize());
        closed.close();
        for (Builder builder : BUILDERS) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> builder.take().accept(Map.of(WEIGHT.name(), segment)), builder.method());
            assertEquals(builder.method() + ": the segment of tensor " + WEIGHT.name()
                    + " belongs to an arena that is already closed", e.getMessage());
        }
    }

    @Test
    void shared_automatic_global_and_heap_segments_are_taken() {
        try (Arena shared = Arena.ofShared()) {
            List<MemorySegment> usable = List.of(shared.allocate(8), Arena.ofAuto().allocate(8),
                    Arena.global().allocate(8), MemorySegment.ofArray(new byte[8]));
            for (Builder builder : BUILDERS) {
                for (MemorySegment segment : usable) {
                    assertDoesNotThrow(() -> builder.take().accept(Map.of("t", segment)), builder.method() + " "
                            + segment);
                }
            }
        }
    }

    /** Heap segments, which the check lets through, do sync: a receiver of byte arrays gets every byte. */
    @Test
    void a_receiver_of_heap_segments_receives_the_update() throws Exception {
        BucketPlan plan = SyncFixtures.plan(1);
        try (Arena arena = Arena.ofShared()) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = new HashMap<>();
            for (TensorSpec tensor : plan.tensors()) {
                destinations.put(tensor.name(), MemorySegment.ofArray(new byte[Math.toIntExact(tensor.byteSize())]));
            }
            assertNull(SyncFixtures.syncOnce(plan, sources, destinations, 3));
        }
    }
}
