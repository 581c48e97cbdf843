package io.github.panamanccl.sync;

import java.nio.ByteBuffer;

/**
 * A host group as the host pipelines use it: a bucket travels as spans of memory in place ({@link BucketSpans}),
 * written with gathering writes by the root and read with scattering reads by a receiver, which checksums every
 * byte as it arrives. {@link #broadcast} is the same for one segment.
 */
interface HostSpanGroup extends Transport.HostGroup {
    /**
     * Root: sends one bucket to every receiver, its header then the bytes of {@code spans} in order.
     *
     * @param spans    templates, read through duplicates; {@code byteSize} bytes in all
     * @param crc32c   the checksum of those bytes, computed by the caller
     * @throws SyncException on deadline, peer failure or abort
     */
    void send(ByteBuffer[] spans, long byteSize, int crc32c, Transport.BucketTag tag, long deadlineNanos);

    /**
     * Receiver: reads the next bucket's header and checks it against {@code tag} and {@code byteSize}, runs
     * {@code landing} (the bytes are about to land), then fills {@code spans} in order and checks the bytes against
     * the header's CRC32C, computed as they arrive.
     *
     * @param spans templates, filled through duplicates; {@code byteSize} bytes in all
     * @throws SyncException {@link FailureReason#CORRUPT_BUCKET} for a wrong header (nothing landed) or checksum
     *                       (everything landed); otherwise on deadline, peer failure or abort, part of the bytes
     *                       possibly landed
     */
    void receive(ByteBuffer[] spans, long byteSize, Transport.BucketTag tag, Runnable landing, long deadlineNanos);
}
