package io.github.panamanccl.sync;

import io.github.panamanccl.NativeAccess;
import io.github.panamanccl.bucket.BucketPlan;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * One bucket of a plan as the spans of memory it travels in, in wire order, so that a gathering write sends it
 * straight from the tensors and a scattering read fills it straight into them: the bytes of the spans, in order, are
 * exactly the bucket {@link io.github.panamanccl.bucket.HostBucketPacker#pack} would pack (every piece at its
 * offset, zero padding), so the wire does not change.
 *
 * <p>How a bucket is cut. Pieces that follow each other without a gap both in the bucket and in memory, with one
 * lifetime (tensors carved from one buffer in plan order), form a run. A run of at least {@link #SMALL_RUN_BYTES}
 * is a span of the tensors' own memory. A shorter run goes through this side's local buffer instead, together with
 * the padding beside it: the sender copies it in ({@link #stage}), the receiver copies it out ({@link #unstage}),
 * so neighbouring small tensors cost one span between them instead of one each. (Measured here, every span costs
 * about 0.3 to 0.45 microseconds of kernel and JDK work at the two ends together, a copy about 0.23 ns per byte
 * at both: the two cost alike at about 2 KiB.) Padding between two runs of tensor memory comes from a shared
 * read-only zero region on the sender; on the receiver it lands in the local buffer, each padding at its own place,
 * because every received byte is checksummed once it has arrived. Spans are cut at 1 GiB (a ByteBuffer's limit).
 */
final class BucketSpans {
    /** Shortest run of tensor memory sent or received in place; shorter ones are copied through the local buffer. */
    static final long SMALL_RUN_BYTES = 2048;
    private static final long MAX_SPAN_BYTES = 1L << 30;
    /** The sender's padding: zeros nobody writes, shared by every sender in the process. */
    private static final MemorySegment ZEROS = Arena.global().allocate(64 << 10).asReadOnly();

    /** Which end of the wire the spans are for. */
    enum Side { SENDING, RECEIVING }

    /** A span before it is bound: {@code memory} null means the local buffer. */
    private record Span(MemorySegment memory, long offset, long length) {
    }

    /** A small run's piece (tensor -1: padding, zeroed by the sender) at {@code localOffset} of the local buffer. */
    private record Copy(int tensor, long tensorOffset, long localOffset, long length) {
    }

    private final Side side;
    private final MemorySegment[] tensors;
    private final List<Copy> copies;
    private final MemorySegment local;
    private final ByteBuffer[] spans;

    private BucketSpans(Layout layout, MemorySegment local) {
        this.side = layout.side;
        this.tensors = layout.tensors;
        this.copies = layout.copies;
        this.local = local;
        List<ByteBuffer> buffers = new ArrayList<>(layout.spans.size());
        for (Span span : layout.spans) {
            MemorySegment memory = span.memory() != null ? span.memory() : local;
            for (long at = 0; at < span.length(); at += MAX_SPAN_BYTES) {
                buffers.add(memory.asSlice(span.offset() + at, Math.min(MAX_SPAN_BYTES, span.length() - at))
                        .asByteBuffer());
            }
        }
        this.spans = buffers.toArray(ByteBuffer[]::new);
    }

    /**
     * How bucket {@code bucket} is cut for {@code side} of the wire over {@code tensors} (one segment per plan tensor,
     * each exactly its size; entries for tensors without a piece in the bucket are not used).
     */
    static Layout layout(BucketPlan plan, int bucket, MemorySegment[] tensors, Side side) {
        return new Layout(plan, bucket, tensors, side);
    }

    /** The spans, in wire order; templates: a transfer works on duplicates, so their positions never move. */
    ByteBuffer[] spans() {
        return spans;
    }

    /** Sender: copies the small runs and the padding beside them into the local buffer. */
    void stage() {
        for (Copy copy : copies) {
            if (copy.tensor() < 0) {
                local.asSlice(copy.localOffset(), copy.length()).fill((byte) 0);
            } else {
                MemorySegment.copy(tensors[copy.tensor()], copy.tensorOffset(), local, copy.localOffset(), copy.length());
            }
        }
    }

    /** Receiver, once the bucket has arrived and passed its checksum: copies the small runs into their tensors. */
    void unstage() {
        for (Copy copy : copies) {
            MemorySegment.copy(local, copy.localOffset(), tensors[copy.tensor()], copy.tensorOffset(), copy.length());
        }
    }

    /** CRC32C of the spans' bytes in order: the bucket's checksum, once the sender has {@linkplain #stage staged}. */
    int crc32c() {
        if (side != Side.SENDING) {
            throw new IllegalStateException("the receiver's checksum is taken as the bytes arrive");
        }
        CRC32C crc = new CRC32C();
        for (ByteBuffer span : spans) {
            crc.update(span.duplicate());
        }
        return (int) crc.getValue();
    }

    /** The cut of one bucket, before the local buffer it needs is chosen. */
    static final class Layout {
        private final Side side;
        private final MemorySegment[] tensors;
        private final List<Span> spans = new ArrayList<>();
        private final List<Copy> copies = new ArrayList<>();
        private long localBytes;

        private Layout(BucketPlan plan, int bucket, MemorySegment[] tensors, Side side) {
            this.side = side;
            this.tensors = tensors;
            List<BucketPlan.Piece> pieces = plan.piecesIn(bucket);
            long cursor = 0; // bucket bytes laid out so far
            boolean lastLocal = false;
            for (int p = 0; p < pieces.size(); ) {
                int end = runEnd(pieces, p);
                BucketPlan.Piece first = pieces.get(p);
                BucketPlan.Piece last = pieces.get(end - 1);
                long runLength = last.bucketOffset() + last.length() - first.bucketOffset();
                boolean small = runLength < SMALL_RUN_BYTES;
                long padding = first.bucketOffset() - cursor;
                if (padding > 0) {
                    if (small || lastLocal || side == Side.RECEIVING) {
                        localPadding(padding);
                    } else {
                        zeros(padding);
                    }
                }
                if (small) {
                    for (int q = p; q < end; q++) {
                        BucketPlan.Piece piece = pieces.get(q);
                        copies.add(new Copy(piece.tensor(), piece.tensorOffset(), local(piece.length()), piece.length()));
                    }
                } else {
                    MemorySegment memory = tensors[first.tensor()];
                    if (end > p + 1) {
                        // Restricted, but safe: the run's segments share the first one's lifetime and lie back to back
                        // (runEnd checked both), so the widened view covers exactly their bytes.
                        memory = memory.reinterpret(first.tensorOffset() + runLength);
                    }
                    spans.add(new Span(memory, first.tensorOffset(), runLength));
                }
                lastLocal = small;
                cursor = last.bucketOffset() + last.length();
                p = end;
            }
        }

        /** Bytes of local buffer the bucket needs on this side. */
        long localBytes() {
            return localBytes;
        }

        /** The spans over {@code local} (at least {@link #localBytes()}, used by nothing else while they move). */
        BucketSpans bind(MemorySegment local) {
            if (local.byteSize() < localBytes) {
                throw new IllegalArgumentException("the local buffer has " + local.byteSize() + " bytes, the bucket needs "
                        + localBytes);
            }
            return new BucketSpans(this, local);
        }

        /**
         * One past the last piece of the run that starts at piece {@code from}: the pieces after it follow without a gap
         * in the bucket and start where the previous one's segment ends in memory, within one lifetime.
         */
        private int runEnd(List<BucketPlan.Piece> pieces, int from) {
            if (!NativeAccess.enabled()) {
                return from + 1; // a run needs a widened segment, a restricted method: piece by piece, the same bytes
            }
            BucketPlan.Piece previous = pieces.get(from);
            MemorySegment first = tensors[previous.tensor()];
            int end = from + 1;
            while (end < pieces.size()) {
                BucketPlan.Piece next = pieces.get(end);
                MemorySegment before = tensors[previous.tensor()];
                MemorySegment after = tensors[next.tensor()];
                boolean continues = next.bucketOffset() == previous.bucketOffset() + previous.length()
                        && previous.tensorOffset() + previous.length() == before.byteSize() && next.tensorOffset() == 0
                        && before.isNative() && after.isNative()
                        && after.address() == before.address() + before.byteSize()
                        && after.scope().equals(first.scope());
                if (!continues) {
                    break;
                }
                previous = next;
                end++;
            }
            return end;
        }

        /** Reserves {@code length} bytes of the local buffer, right after the last span if that is local too. */
        private long local(long length) {
            long offset = localBytes;
            localBytes += length;
            Span last = spans.isEmpty() ? null : spans.getLast();
            if (last != null && last.memory() == null && last.offset() + last.length() == offset) {
                spans.set(spans.size() - 1, new Span(null, last.offset(), last.length() + length));
            } else {
                spans.add(new Span(null, offset, length));
            }
            return offset;
        }

        private void localPadding(long length) {
            long offset = local(length);
            if (side == Side.SENDING) {
                copies.add(new Copy(-1, 0, offset, length));
            }
        }

        private void zeros(long length) {
            for (long left = length; left > 0; left -= ZEROS.byteSize()) {
                spans.add(new Span(ZEROS, 0, Math.min(left, ZEROS.byteSize())));
            }
        }
    }
}
