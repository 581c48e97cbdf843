package io.github.panamanccl.sync;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Control-plane messages and their binary encoding (big-endian): the one place frames are decoded.
 * {@link #decode} is pure: bytes in, a typed message out, or a {@link ProtocolException} naming the field; every
 * field is range-checked before use, nothing is executed, only read. Framing ({@code u32 length, body}) is
 * {@link FrameReader}'s.
 *
 * <p>Join: JOIN_REQUEST, then WELCOME (the plan) or REJECT; the receiver checks the plan against its own tensors and
 * answers ACCEPT (it takes its place) or REJECT (with its reason). Update: FORM_GROUP (only when the group changes),
 * GROUP_READY or FAILED per receiver; BEGIN, READY; the buckets on the data plane; DONE or FAILED per receiver;
 * ABORT from the sender when the update failed. Every update message names its version, which no sender announces
 * twice. HEARTBEAT keeps an idle connection inside the silence rule.
 */
final class Wire {
    static final int MAGIC = 0x504E434C; // "PNCL"
    static final int PROTOCOL_VERSION = 2;
    static final int MAX_TOKEN_BYTES = 1024;
    static final int MAX_FINGERPRINT_BYTES = 64;
    static final int MAX_TEXT_BYTES = 4096;
    /** Texts longer than this are cut when encoded. */
    static final int MAX_TEXT_CHARS = 1000;
    static final int MAX_RENDEZVOUS_BYTES = 4096;
    /**
     * Every message but WELCOME fits in a frame this large (the longest, a JOIN_REQUEST with the longest token,
     * fingerprint and name, is 5205 bytes): the limit for a peer that is not, or no longer, sending a plan.
     */
    static final int MAX_SMALL_FRAME_BYTES = 8 << 10;

    private Wire() {
    }

    sealed interface Message permits JoinRequest, Welcome, Accept, Reject, FormGroup, GroupReady, Begin, Ready, Done,
            Failed, Abort, Heartbeat {
    }

    record JoinRequest(int protocolVersion, byte[] token, byte[] expectedFingerprint, String name) implements Message {
    }

    record Welcome(long memberId, String transport, byte[] fingerprint, byte[] plan) implements Message {
    }

    /** The receiver has checked the plan against its tensors and takes its place. */
    record Accept() implements Message {
    }

    /** A refused join, from either side (the sender's refusal, or a receiver declining the plan), or refused traffic. */
    record Reject(FailureReason reason, String message) implements Message {
    }

    record FormGroup(long version, int epoch, int rank, int worldSize, long timeoutMillis, byte[] rendezvous)
            implements Message {
    }

    record GroupReady(long version) implements Message {
    }

    record Begin(int epoch, long version, byte[] fingerprint, long deadlineMillis) implements Message {
    }

    record Ready(long version) implements Message {
    }

    record Done(long version) implements Message {
    }

    /** A receiver's report that it failed this update (forming its group: {@link FailureReason#GROUP_FAILED}). */
    record Failed(long version, FailureReason reason, String message) implements Message {
    }

    /** The sender's notice that the update failed everywhere, naming the rank at fault (-1 if unknown). */
    record Abort(long version, FailureReason reason, int failedRank, String message) implements Message {
    }

    record Heartbeat() implements Message {
    }

    private static final int JOIN_REQUEST = 1, WELCOME = 2, REJECT = 3, FORM_GROUP = 4, GROUP_READY = 5, ACCEPT = 6,
            BEGIN = 7, READY = 8, DONE = 9, FAILED = 10, ABORT = 11, HEARTBEAT = 12;

    /** The frame body: one type byte, then the fields. */
    static byte[] encode(Message message) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            switch (message) {
                case JoinRequest j -> {
                    out.writeByte(JOIN_REQUEST);
                    out.writeInt(MAGIC);
                    out.writeInt(j.protocolVersion());
                    writeBytes(out, j.token());
                    writeBytes(out, j.expectedFingerprint());
                    writeText(out, j.name());
                }
                case Welcome w -> {
                    out.writeByte(WELCOME);
                    out.writeLong(w.memberId());
                    writeText(out, w.transport());
                    writeBytes(out, w.fingerprint());
                    writeBytes(out, w.plan());
                }
                case Accept a -> out.writeByte(ACCEPT);
                case Reject r -> {
                    out.writeByte(REJECT);
                    out.writeByte(r.reason().code());
                    writeText(out, r.message());
                }
                case FormGroup g -> {
                    out.writeByte(FORM_GROUP);
                    out.writeLong(g.version());
                    out.writeInt(g.epoch());
                    out.writeInt(g.rank());
                    out.writeInt(g.worldSize());
                    out.writeLong(g.timeoutMillis());
                    writeBytes(out, g.rendezvous());
                }
                case GroupReady g -> {
                    out.writeByte(GROUP_READY);
                    out.writeLong(g.version());
                }
                case Begin b -> {
                    out.writeByte(BEGIN);
                    out.writeInt(b.epoch());
                    out.writeLong(b.version());
                    writeBytes(out, b.fingerprint());
                    out.writeLong(b.deadlineMillis());
                }
                case Ready r -> {
                    out.writeByte(READY);
                    out.writeLong(r.version());
                }
                case Done d -> {
                    out.writeByte(DONE);
                    out.writeLong(d.version());
                }
                case Failed f -> {
                    out.writeByte(FAILED);
                    out.writeLong(f.version());
                    out.writeByte(f.reason().code());
                    writeText(out, f.message());
                }
                case Abort a -> {
                    out.writeByte(ABORT);
                    out.writeLong(a.version());
                    out.writeByte(a.reason().code());
                    out.writeInt(a.failedRank());
                    writeText(out, a.message());
                }
                case Heartbeat h -> out.writeByte(HEARTBEAT);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return bytes.toByteArray();
    }

    /**
     * Decodes one frame body.
     *
     * @throws ProtocolException naming the offending field: unknown type, a field out of range, truncated or
     *                           trailing bytes, text that is not UTF-8, an unknown reason code
     */
    static Message decode(byte[] body) {
        Reader in = new Reader(ByteBuffer.wrap(body));
        int type = in.u8("message type");
        Message message = switch (type) {
            case JOIN_REQUEST -> {
                int magic = in.i32("joinRequest.magic");
                if (magic != MAGIC) {
                    throw new ProtocolException("joinRequest.magic is 0x" + Integer.toHexString(magic)
                            + ", expected 0x" + Integer.toHexString(MAGIC) + " (not a panama-nccl receiver?)");
                }
                yield new JoinRequest(in.i32("joinRequest.protocolVersion"),
                        in.bytes("joinRequest.token", MAX_TOKEN_BYTES),
                        in.bytes("joinRequest.expectedFingerprint", MAX_FINGERPRINT_BYTES), in.text("joinRequest.name"));
            }
            case WELCOME -> new Welcome(in.i64("welcome.memberId"), in.text("welcome.transport"),
                    in.bytes("welcome.fingerprint", MAX_FINGERPRINT_BYTES), in.bytes("welcome.plan", Integer.MAX_VALUE));
            case ACCEPT -> new Accept();
            case REJECT -> new Reject(in.reason("reject.reason"), in.text("reject.message"));
            case FORM_GROUP -> {
                long version = in.i64("formGroup.version");
                int epoch = in.i32("formGroup.epoch");
                int rank = in.i32("formGroup.rank");
                int world = in.i32("formGroup.worldSize");
                if (world < 2 || rank < 1 || rank >= world) {
                    throw new ProtocolException("formGroup.rank " + rank + " / formGroup.worldSize " + world
                            + " is not a receiver rank (1 <= rank < worldSize)");
                }
                yield new FormGroup(version, epoch, rank, world, in.positive("formGroup.timeoutMillis"),
                        in.bytes("formGroup.rendezvous", MAX_RENDEZVOUS_BYTES));
            }
            case GROUP_READY -> new GroupReady(in.i64("groupReady.version"));
            case BEGIN -> new Begin(in.i32("begin.epoch"), in.i64("begin.version"),
                    in.bytes("begin.fingerprint", MAX_FINGERPRINT_BYTES), in.positive("begin.deadlineMillis"));
            case READY -> new Ready(in.i64("ready.version"));
            case DONE -> new Done(in.i64("done.version"));
            case FAILED -> new Failed(in.i64("failed.version"), in.reason("failed.reason"), in.text("failed.message"));
            case ABORT -> new Abort(in.i64("abort.version"), in.reason("abort.reason"), in.i32("abort.failedRank"),
                    in.text("abort.message"));
            case HEARTBEAT -> new Heartbeat();
            default -> throw new ProtocolException("message type " + type + " is unknown");
        };
        if (in.buffer.hasRemaining()) {
            throw new ProtocolException("message type " + type + " has " + in.buffer.remaining() + " trailing bytes");
        }
        return message;
    }

    private static void writeBytes(DataOutputStream out, byte[] value) throws IOException {
        out.writeInt(value.length);
        out.write(value);
    }

    /**
     * Texts are diagnostics: a long one is cut (at most {@value #MAX_TEXT_CHARS} chars, which encode to at most 3000
     * UTF-8 bytes), never refused; the cut never separates a surrogate pair, which would encode as '?'.
     */
    private static void writeText(DataOutputStream out, String value) throws IOException {
        writeBytes(out, cut(value).getBytes(StandardCharsets.UTF_8));
    }

    /** {@code text} as it travels: its first {@value #MAX_TEXT_CHARS} chars, one less if that would split a pair. */
    static String cut(String text) {
        if (text.length() <= MAX_TEXT_CHARS) {
            return text;
        }
        int end = Character.isHighSurrogate(text.charAt(MAX_TEXT_CHARS - 1)) ? MAX_TEXT_CHARS - 1 : MAX_TEXT_CHARS;
        return text.substring(0, end);
    }

    /** Bounds-checked field reads. */
    private record Reader(ByteBuffer buffer) {
        int u8(String field) {
            need(1, field);
            return buffer.get() & 0xFF;
        }

        int i32(String field) {
            need(4, field);
            return buffer.getInt();
        }

        long i64(String field) {
            need(8, field);
            return buffer.getLong();
        }

        long positive(String field) {
            long value = i64(field);
            if (value <= 0) {
                throw new ProtocolException(field + " is " + value + ", must be positive");
            }
            return value;
        }

        FailureReason reason(String field) {
            return FailureReason.ofCode(u8(field), field);
        }

        byte[] bytes(String field, int max) {
            int length = i32(field + ".length");
            if (length < 0 || length > max) {
                throw new ProtocolException(field + ".length is " + length + ", must be in [0, " + max + "]");
            }
            need(length, field);
            byte[] value = new byte[length];
            buffer.get(value);
            return value;
        }

        String text(String field) {
            byte[] utf8 = bytes(field, MAX_TEXT_BYTES);
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(utf8)).toString();
            } catch (CharacterCodingException e) {
                throw new ProtocolException(field + " is not valid UTF-8", e);
            }
        }

        private void need(int bytes, String field) {
            if (buffer.remaining() < bytes) {
                throw new ProtocolException(field + " needs " + bytes + " bytes but the frame has "
                        + buffer.remaining() + " left", new BufferUnderflowException());
            }
        }
    }
}
