package io.github.panamanccl.sync;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Non-blocking framing: bytes in, whole frames out, whatever the chunks the socket hands over. */
class FrameReaderTest {
    private static final List<Wire.Message> MESSAGES = List.of(new Wire.Ready(7), new Wire.Heartbeat(),
            new Wire.Abort(7, FailureReason.DEADLINE, 2, "late \u00e9"));

    private static ByteBuffer stream() {
        ByteBuffer all = ByteBuffer.allocate(1024);
        MESSAGES.forEach(m -> all.put(FrameReader.frame(m)));
        return all.flip();
    }

    @Test
    void frames_arrive_whole_however_the_bytes_are_cut() {
        byte[] bytes = new byte[stream().remaining()];
        stream().get(bytes);
        for (int chunk = 1; chunk <= bytes.length; chunk++) {
            FrameReader reader = new FrameReader(1024);
            List<Wire.Message> decoded = new ArrayList<>();
            for (int offset = 0; offset < bytes.length; offset += chunk) {
                ByteBuffer piece = ByteBuffer.wrap(bytes, offset, Math.min(chunk, bytes.length - offset));
                for (byte[] body; (body = reader.next(piece)) != null; ) {
                    decoded.add(Wire.decode(body));
                }
                assertEquals(0, piece.remaining(), "every byte is taken");
            }
            assertEquals(MESSAGES.toString(), decoded.toString(), "chunks of " + chunk);
        }
    }

    @Test
    void an_oversize_frame_is_refused_from_its_header_and_an_empty_one_is_a_protocol_error() {
        FrameReader reader = new FrameReader(16);
        FrameTooLargeException e = assertThrows(FrameTooLargeException.class,
                () -> reader.next(ByteBuffer.allocate(4).putInt(0, 17)));
        assertEquals(17, e.announcedBytes());
        assertEquals(16, e.maxBytes());
        assertEquals("control frame length is 0",
                assertThrows(ProtocolException.class, () -> new FrameReader(16).next(ByteBuffer.allocate(4)))
                        .getMessage());
        assertNull(new FrameReader(16).next(ByteBuffer.allocate(3)), "a partial header waits for more");
    }
}
