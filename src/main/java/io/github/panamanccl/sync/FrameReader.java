package io.github.panamanccl.sync;

import java.nio.ByteBuffer;

/**
 * Cuts a control connection's byte stream into frames ({@code u32 length, body}) without blocking: bytes in, whole
 * bodies out, as they complete. Pure (no I/O), so it is checked, and fuzzed, on its own. A length above the current
 * limit is refused before anything of the body is buffered, and a body's buffer grows with the bytes that arrived
 * (at most twice them), never to the announced length up front: four bytes cannot make it allocate megabytes.
 */
final class FrameReader {
    /** The first buffer of a body, and the most it allocates before bytes of the body arrive. */
    static final int FIRST_BODY_BYTES = 64 << 10;

    private final ByteBuffer header = ByteBuffer.allocate(4);
    private ByteBuffer body;
    private int bodyLength;
    private int maxFrameBytes;

    FrameReader(int maxFrameBytes) {
        this.maxFrameBytes = maxFrameBytes;
    }

    /** The handshake uses a small limit; an authenticated peer may send up to the configured maximum. */
    void maxFrameBytes(int bytes) {
        this.maxFrameBytes = bytes;
    }

    /**
     * Takes bytes from {@code src} until a frame is complete and returns its body, or returns null once {@code src}
     * is used up first (the partial frame is kept for the next call).
     *
     * @throws FrameTooLargeException the header announces more than the limit
     * @throws ProtocolException      the header announces an empty frame
     */
    byte[] next(ByteBuffer src) {
        if (body == null) {
            while (header.hasRemaining() && src.hasRemaining()) {
                header.put(src.get());
            }
            if (header.hasRemaining()) {
                return null;
            }
            long length = Integer.toUnsignedLong(header.getInt(0));
            if (length == 0) {
                throw new ProtocolException("control frame length is 0");
            }
            if (length > maxFrameBytes) {
                throw new FrameTooLargeException(length, maxFrameBytes);
            }
            bodyLength = (int) length;
            body = ByteBuffer.allocate(Math.min(bodyLength, FIRST_BODY_BYTES));
        }
        while (src.hasRemaining() && body.position() < bodyLength) {
            if (!body.hasRemaining()) {
                body = ByteBuffer.allocate((int) Math.min(bodyLength, 2L * body.capacity())).put(body.flip());
            }
            int n = Math.min(body.remaining(), src.remaining());
            body.put(body.position(), src, src.position(), n);
            body.position(body.position() + n);
            src.position(src.position() + n);
        }
        if (body.position() < bodyLength) {
            return null;
        }
        byte[] complete = body.array(); // its capacity is the body's length: growth stops there
        body = null;
        header.clear();
        return complete;
    }

    /** One message as it travels: length header, then the body. */
    static ByteBuffer frame(Wire.Message message) {
        byte[] body = Wire.encode(message);
        return ByteBuffer.allocate(4 + body.length).putInt(body.length).put(body).flip();
    }
}
