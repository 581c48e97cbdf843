package io.github.panamanccl;

import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NcclUniqueIdTest {
    @Test
    void generateReturnsTheLibrarysBytes() {
        long before = FakeNative.ncclCallCount("ncclGetUniqueId");
        NcclUniqueId first = NcclUniqueId.generate();
        NcclUniqueId second = NcclUniqueId.generate();

        assertEquals(before + 2, FakeNative.ncclCallCount("ncclGetUniqueId"));
        byte[] bytes = first.toBytes();
        assertEquals(NcclUniqueId.BYTES, bytes.length);
        assertEquals("FAKENCCL", new String(bytes, 0, 8, StandardCharsets.US_ASCII));
        assertNotEquals(first, second, "each id is fresh");
    }

    @Test
    void roundTripsThroughBytesAndBase64() {
        NcclUniqueId id = NcclUniqueId.generate();

        assertEquals(id, NcclUniqueId.fromBytes(id.toBytes()));
        assertEquals(id, NcclUniqueId.fromBase64(id.toBase64()));
        assertEquals(id.hashCode(), NcclUniqueId.fromBase64(id.toBase64()).hashCode());
        assertEquals(172, id.toBase64().length());
    }

    @Test
    void bytesAreCopiedInAndOut() {
        byte[] source = new byte[NcclUniqueId.BYTES];
        Arrays.fill(source, (byte) 7);
        NcclUniqueId id = NcclUniqueId.fromBytes(source);
        source[0] = 1;
        id.toBytes()[1] = 2;

        byte[] expected = new byte[NcclUniqueId.BYTES];
        Arrays.fill(expected, (byte) 7);
        assertArrayEquals(expected, id.toBytes());
    }

    @Test
    void wrongLengthsAndTextAreRejectedWithTheFigures() {
        IllegalArgumentException shortBytes = assertThrows(IllegalArgumentException.class,
                () -> NcclUniqueId.fromBytes(new byte[127]));
        assertTrue(shortBytes.getMessage().contains("128") && shortBytes.getMessage().contains("127"),
                shortBytes.getMessage());

        IllegalArgumentException shortText = assertThrows(IllegalArgumentException.class,
                () -> NcclUniqueId.fromBase64("AAAA"));
        assertTrue(shortText.getMessage().contains("3 bytes"), shortText.getMessage());

        IllegalArgumentException notBase64 = assertThrows(IllegalArgumentException.class,
                () -> NcclUniqueId.fromBase64("not base64 at all!"));
        assertTrue(notBase64.getMessage().contains("not base64"), notBase64.getMessage());
        assertThrows(NullPointerException.class, () -> NcclUniqueId.fromBytes(null));
    }

    @Test
    void toStringDoesNotPrintTheWholeId() {
        NcclUniqueId id = NcclUniqueId.generate();
        assertTrue(id.toString().length() < 40, id.toString());
    }
}
