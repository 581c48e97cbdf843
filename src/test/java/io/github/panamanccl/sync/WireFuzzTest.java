package io.github.panamanccl.sync;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.github.panamanccl.testing.FuzzContract;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.reflect.RecordComponent;
import java.util.Arrays;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Coverage-guided fuzzing of every control-plane frame decoder, {@link Wire#decode} (JOIN_REQUEST, read before the
 * peer is authenticated, included): every frame body ends in a {@link ProtocolException} or in a message that
 * re-encodes to exactly the input (texts over {@value Wire#MAX_TEXT_CHARS} characters, which encoding cuts,
 * excepted) and then to a fixed point, within {@link FuzzContract}'s budgets. Seeds: one frame of each type
 * ({@link #decode()}), plus the corpus in src/test/resources/io/github/panamanccl/sync/WireFuzzTestInputs/decode (see
 * src/test/FUZZING.md).
 */
class WireFuzzTest {
    static Stream<Arguments> decode() {
        return messages().map(message -> Arguments.of(Named.of(message.getClass().getSimpleName(),
                Wire.encode(message))));
    }

    /** One message of each type, as the sender and receiver send them. */
    static Stream<Wire.Message> messages() {
        byte[] fingerprint = new byte[32];
        Arrays.fill(fingerprint, (byte) 0x5a);
        return Stream.of(
                new Wire.JoinRequest(Wire.PROTOCOL_VERSION, "token".getBytes(), fingerprint, "engine-0 \u00e9"),
                new Wire.JoinRequest(Wire.PROTOCOL_VERSION, new byte[0], new byte[0], ""),
                new Wire.Welcome(7, HostTcpTransport.NAME, fingerprint, new byte[] {'P', 'N', 'B', 'P'}),
                new Wire.Accept(),
                new Wire.Reject(FailureReason.WRONG_TOKEN, "the token does not match the sender's"),
                new Wire.FormGroup(3, 1, 1, 2, 30_000, new byte[36]),
                new Wire.GroupReady(3),
                new Wire.Begin(3, 42, fingerprint, 60_000),
                new Wire.Ready(42),
                new Wire.Done(42),
                new Wire.Failed(42, FailureReason.CORRUPT_BUCKET, "bucket 3: CRC32C mismatch"),
                new Wire.Abort(42, FailureReason.PEER_LOST, 2, "rank 2 died"),
                new Wire.Heartbeat());
    }

    @MethodSource
    @FuzzTest
    void decode(byte[] body) {
        FuzzContract.decode(body, ProtocolException.class, () -> Wire.decode(body)).ifPresent(message -> {
            byte[] encoded = Wire.encode(message);
            if (!hasTextEncodingCuts(message)) {
                assertArrayEquals(body, encoded, () -> message + " re-encodes differently");
            }
            assertArrayEquals(encoded, Wire.encode(Wire.decode(encoded)), () -> message + ": no fixed point");
        });
    }

    private static boolean hasTextEncodingCuts(Wire.Message message) {
        for (RecordComponent component : message.getClass().getRecordComponents()) {
            try {
                if (component.getAccessor().invoke(message) instanceof String text
                        && text.length() > Wire.MAX_TEXT_CHARS) {
                    return true;
                }
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
        }
        return false;
    }
}
