package io.github.panamanccl.sync;

/** A control frame announced more bytes than the configured maximum; nothing of it was buffered. */
public final class FrameTooLargeException extends ProtocolException {
    private static final long serialVersionUID = 1L;
    private final long announcedBytes;
    private final int maxBytes;

    FrameTooLargeException(long announcedBytes, int maxBytes) {
        super("control frame of " + announcedBytes + " bytes exceeds the maximum of " + maxBytes + " bytes");
        this.announcedBytes = announcedBytes;
        this.maxBytes = maxBytes;
    }

    /** The length the frame's header announced. */
    public long announcedBytes() {
        return announcedBytes;
    }

    /** The largest frame this side accepts at this point of the protocol. */
    public int maxBytes() {
        return maxBytes;
    }
}
