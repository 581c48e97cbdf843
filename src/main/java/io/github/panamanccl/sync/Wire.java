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
 * Control-plane messages and their binary encoding (big-endian). Every decoded field is range-checked before
 * use, and errors name the field; nothing here is executed, only read.
 */
final class Wire {
    static final int MAGIC = 0x504E434C; // "PNCL"
    static final int PROTOCOL_VERSION = 1;
    static final int MAX_TOKEN_BYTES = 1024;
    static final int MAX_FINGERPRINT_BYTES = 64;
    static final int MAX_TEXT_BYTES = 4096;
    static final int MAX_RENDEZVOUS_BYTES = 4096;

    private Wire() {
    }

    /**
     * Why something failed or was refused; travels in {@link Reject}, {@link Failed} and {@link Abort} as its
     * {@link #code()}, which is part of the protocol: never renumber, only add.
     */
    enum Reason {
        WRONG_TOKEN(1), PLAN_MISMATCH(2), GROUP_FULL(3), PROTOCOL(4), CLOSED(5), DEADLINE(6), PEER_LOST(7),
        PEER_ERROR(8), CORRUPT_BUCKET(9), APPLICATION_ERROR(10), GROUP_FAILED(11), STALE(12), LOCAL_ERROR(13);

        private final int code;

        Reason(int code) {
            this.code = code;
        }

        int code() {
            return code;
        }

        /** @throws ProtocolException naming {@code field} when no reason has this code */
        static Reason ofCode(int code, String field) {
            for (Reason r : values()) {
                if (r.code == code) {
                    return r;
                }
            }
            throw new ProtocolException(field + " " + code + " is not a known reason code");
        }
    }

    sealed interface Message permits Hello, Welcome, Reject, Group, GroupReady, GroupFailed, Begin, Ready, Done,
            Failed, Abort, Ping {
    }

    record Hello(int protocolVersion, byte[] token, byte[] expectedFingerprint, String name) implements Message {
    }

    record Welcome(long memberId, String transport, byte[] fingerprint, byte[] plan) implements Message {
    }

    record Reject(Reason reason, String message) implements Message {
    }

    record Group(int epoch, int rank, int worldSize, long timeoutMillis, byte[] rendezvous) implements Message {
    }

    record GroupReady(int epoch) implements Message {
    }

    record GroupFailed(int epoch, String message) implements Message {
    }

    record Begin(int epoch, long version, byte[] fingerprint, long deadlineMillis) implements Message {
    }

    record Ready(long version) implements Message {
    }

    record Done(long version) implements Message {
    }

    /** A receiver's report that it failed this update. */
    record Failed(long version, Reason reason, String message) implements Message {
    }

    /** The sender's notice that the update failed everywhere, naming the rank at fault (-1 if unknown). */
    record Abort(long version, Reason reason, int failedRank, String message) implements Message {
    }

    record Ping() implements Message {
    }

    private static final int HELLO = 1, WELCOME = 2, REJECT = 3, GROUP = 4, GROUP_READY = 5, GROUP_FAILED = 6,
            BEGIN = 7, READY = 8, DONE = 9, FAILED = 10, ABORT = 11, PING = 12;

    /** The frame body: one type byte, then the fields. */
    static byte[] encode(Message message) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(64);
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            switch (message) {
                case Hello h -> {
                    out.writeByte(HELLO);
                    out.writeInt(MAGIC);
                    out.writeInt(h.protocolVersion());
                    writeBytes(out, h.token());
                    writeBytes(out, h.expectedFingerprint());
                    writeText(out, h.name());
                }
                case Welcome w -> {
                    out.writeByte(WELCOME);
                    out.writeLong(w.memberId());
                    writeText(out, w.transport());
                    writeBytes(out, w.fingerprint());
                    writeBytes(out, w.plan());
                }
                case Reject r -> {
                    out.writeByte(REJECT);
                    out.writeByte(r.reason().code());
                    writeText(out, r.message());
                }
                case Group g -> {
                    out.writeByte(GROUP);
                    out.writeInt(g.epoch());
                    out.writeInt(g.rank());
                    out.writeInt(g.worldSize());
                    out.writeLong(g.timeoutMillis());
                    writeBytes(out, g.rendezvous());
                }
                case GroupReady g -> {
                    out.writeByte(GROUP_READY);
                    out.writeInt(g.epoch());
                }
                case GroupFailed g -> {
                    out.writeByte(GROUP_FAILED);
                    out.writeInt(g.epoch());
                    writeText(out, g.message());
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
                case Ping p -> out.writeByte(PING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not fail
        }
        return bytes.toByteArray();
    }

    /** Decodes one frame body; throws {@link ProtocolException} naming the offending field. */
    static Message decode(byte[] frame) {
        Reader in = new Reader(ByteBuffer.wrap(frame));
        int type = in.u8("message type");
        Message message = switch (type) {
            case HELLO -> {
                int magic = in.i32("hello.magic");
                if (magic != MAGIC) {
                    throw new ProtocolException("hello.magic is 0x" + Integer.toHexString(magic)
                            + ", expected 0x" + Integer.toHexString(MAGIC) + " (not a panama-nccl receiver?)");
                }
                yield new Hello(in.i32("hello.protocolVersion"), in.bytes("hello.token", MAX_TOKEN_BYTES),
                        in.bytes("hello.expectedFingerprint", MAX_FINGERPRINT_BYTES), in.text("hello.name"));
            }
            case WELCOME -> new Welcome(in.i64("welcome.memberId"), in.text("welcome.transport"),
                    in.bytes("welcome.fingerprint", MAX_FINGERPRINT_BYTES), in.bytes("welcome.plan", Integer.MAX_VALUE));
            case REJECT -> new Reject(in.reason("reject.reason"), in.text("reject.message"));
            case GROUP -> {
                int epoch = in.i32("group.epoch");
                int rank = in.i32("group.rank");
                int world = in.i32("group.worldSize");
                if (world < 2 || rank < 1 || rank >= world) {
                    throw new ProtocolException("group.rank " + rank + " / group.worldSize " + world
                            + " is not a receiver rank (1 <= rank < worldSize)");
                }
                yield new Group(epoch, rank, world, in.positive("group.timeoutMillis"),
                        in.bytes("group.rendezvous", MAX_RENDEZVOUS_BYTES));
            }
            case GROUP_READY -> new GroupReady(in.i32("groupReady.epoch"));
            case GROUP_FAILED -> new GroupFailed(in.i32("groupFailed.epoch"), in.text("groupFailed.message"));
            case BEGIN -> new Begin(in.i32("begin.epoch"), in.i64("begin.version"),
                    in.bytes("begin.fingerprint", MAX_FINGERPRINT_BYTES), in.positive("begin.deadlineMillis"));
            case READY -> new Ready(in.i64("ready.version"));
            case DONE -> new Done(in.i64("done.version"));
            case FAILED -> new Failed(in.i64("failed.version"), in.reason("failed.reason"), in.text("failed.message"));
            case ABORT -> new Abort(in.i64("abort.version"), in.reason("abort.reason"), in.i32("abort.failedRank"),
                    in.text("abort.message"));
            case PING -> new Ping();
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

    /** Texts are diagnostics: a long one is cut (1000 chars encode to at most 3000 UTF-8 bytes), never refused. */
    private static void writeText(DataOutputStream out, String value) throws IOException {
        String cut = value.length() > 1000 ? value.substring(0, 1000) : value;
        writeBytes(out, cut.getBytes(StandardCharsets.UTF_8));
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

        Reason reason(String field) {
            return Reason.ofCode(u8(field), field);
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
