package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;

import org.junit.jupiter.api.Test;

/** Plain loopback TCP delivers the sender's bytes to every receiver, however either side cuts them. */
class LoopbackLinkTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    @Test
    void everyReceiverGetsTheSendersBytesWithGatheringAndOnePiecePerCall() {
        try (Arena arena = Arena.ofShared(); LoopbackLink link = LoopbackLink.open(2, TIMEOUT)) {
            MemorySegment source = arena.allocate(3 * 1024 * 1024 + 17);
            for (long i = 0; i < source.byteSize(); i++) {
                source.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            }
            for (LoopbackLink.Writes writes : LoopbackLink.Writes.values()) {
                MemorySegment first = arena.allocate(source.byteSize());
                MemorySegment second = arena.allocate(source.byteSize());
                // The sender writes 1000-byte pieces; the receivers read into pieces cut otherwise.
                long moved = link.transfer(LoopbackLink.cut(source, 1000),
                        List.of(LoopbackLink.cut(first, 4096), List.of(second)), writes);

                assertEquals(source.byteSize(), moved);
                assertEquals(-1, source.mismatch(first), writes + ": first receiver");
                assertEquals(-1, source.mismatch(second), writes + ": second receiver");
            }
        }
    }

    @Test
    void destinationsThatDoNotHoldTheSourceAreRefusedBeforeAnythingMoves() {
        try (Arena arena = Arena.ofShared(); LoopbackLink link = LoopbackLink.open(1, TIMEOUT)) {
            MemorySegment source = arena.allocate(100);
            IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class, () -> link.transfer(
                    List.of(source), List.of(List.of(arena.allocate(99))), LoopbackLink.Writes.GATHERING));
            IllegalArgumentException count = assertThrows(IllegalArgumentException.class, () -> link.transfer(
                    List.of(source), List.of(), LoopbackLink.Writes.GATHERING));

            assertTrue(tooSmall.getMessage().contains("room for 99 bytes, the source has 100"), tooSmall.getMessage());
            assertEquals("0 destinations for 1 receivers", count.getMessage());
        }
    }

    @Test
    void aLimitChecksItsReceiversOnceAndMovesTheModelOnEverySend() {
        try (LoopbackLimit limit = LoopbackLimit.contiguous(1 << 20, 64 << 10, 2, TIMEOUT)) {
            assertEquals(1 << 20, limit.bytes());
            assertEquals(1 << 20, limit.send());
        }
        var tensors = BenchModels.hostModel(1000, 4L << 20).tensors();
        try (LoopbackLimit limit = LoopbackLimit.tensors(tensors, 1, TIMEOUT)) {
            assertEquals(tensors.stream().mapToLong(t -> t.byteSize()).sum(), limit.send());
        }
    }

    @Test
    void cutSplitsIntoPiecesOfTheGivenSizeWithAShorterLastOne() {
        try (Arena arena = Arena.ofConfined()) {
            List<MemorySegment> pieces = LoopbackLink.cut(arena.allocate(10), 4);

            assertEquals(List.of(4L, 4L, 2L), pieces.stream().map(MemorySegment::byteSize).toList());
            assertThrows(IllegalArgumentException.class, () -> LoopbackLink.cut(arena.allocate(10), 0));
        }
    }
}
