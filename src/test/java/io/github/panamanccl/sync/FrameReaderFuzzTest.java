package io.github.panamanccl.sync;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.testing.FuzzContract;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Coverage-guided fuzzing of the control connection's framing, {@link FrameReader#next}, as the control loop drives
 * it: a byte stream, handed over in chunks, under the small limit of a handshake or the large one a receiver allows
 * for the plan. The first input byte picks the chunk size (low 7 bits, plus 1) and the limit (high bit: 64 MiB, else
 * {@value Wire#MAX_SMALL_FRAME_BYTES} bytes); the rest is the stream. Every body that comes out is exactly the bytes
 * its header framed, and decodes ({@link Wire#decode}) to a message or a {@link ProtocolException}; the stream ends in
 * its first {@link ProtocolException} (an empty frame, or a {@link FrameTooLargeException}) or in a partial frame.
 * All within {@link FuzzContract}'s budgets: a header announcing 64 MiB allocates what arrived, not what it
 * announced. Seeds: {@link #next()}, plus src/test/resources/io/github/panamanccl/sync/FrameReaderFuzzTestInputs/next.
 */
class FrameReaderFuzzTest {
    private static final int LARGE_LIMIT = 64 << 20;

    static Stream<Arguments> next() {
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        WireFuzzTest.messages().forEach(message -> stream.writeBytes(FrameReader.frame(message).array()));
        byte[] frames = stream.toByteArray();
        return Stream.of(
                seed("every message, byte by byte, small limit", 0, frames),
                seed("every message, 128-byte chunks, large limit", 0xff, frames),
                seed("a 64 MiB header, then 16 bytes", 0x87, ByteBuffer.allocate(20).putInt(LARGE_LIMIT).array()),
                seed("a header over the small limit", 0x07, ByteBuffer.allocate(8).putInt(Wire.MAX_SMALL_FRAME_BYTES + 1)
                        .array()),
                seed("an empty frame", 0x03, new byte[4]),
                seed("half a frame", 0x05, Arrays.copyOf(frames, 9)));
    }

    @MethodSource
    @FuzzTest
    void next(byte[] input) {
        if (input.length == 0) {
            return;
        }
        int chunk = (input[0] & 0x7f) + 1;
        int limit = (input[0] & 0x80) != 0 ? LARGE_LIMIT : Wire.MAX_SMALL_FRAME_BYTES;
        FuzzContract.decode(input, ProtocolException.class, () -> {
            FrameReader reader = new FrameReader(limit);
            int framed = 1; // where the next frame's header starts in the input
            for (int offset = 1; offset < input.length; offset += chunk) {
                ByteBuffer piece = ByteBuffer.wrap(input, offset, Math.min(chunk, input.length - offset));
                for (byte[] body; (body = reader.next(piece)) != null; ) {
                    int length = ByteBuffer.wrap(input, framed, 4).getInt();
                    assertEquals(length, body.length, "the body's length is the header's");
                    assertArrayEquals(Arrays.copyOfRange(input, framed + 4, framed + 4 + length), body,
                            "the body is the bytes its header framed");
                    framed += 4 + length;
                    try {
                        Wire.decode(body);
                    } catch (ProtocolException malformed) {
                        // a whole frame that is no message: the loop drops the connection, as for a bad header
                    }
                }
                assertEquals(0, piece.remaining(), "every byte of a chunk is taken");
            }
            return framed;
        });
    }

    private static Arguments seed(String name, int control, byte[] stream) {
        byte[] input = new byte[stream.length + 1];
        input[0] = (byte) control;
        System.arraycopy(stream, 0, input, 1, stream.length);
        return Arguments.of(Named.of(name, input));
    }
}
