package io.github.panamanccl.bucket;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InventoryTest {
    private static final String HEADER = "# comment\nname\tdtype\tshape\n";

    private static Inventory parse(String text) throws IOException {
        return Inventory.parse(new StringReader(text), "test.tsv");
    }

    private static void assertRejected(String text, long line, String field) {
        InventoryFormatException rejection = assertThrows(InventoryFormatException.class, () -> parse(text));
        assertEquals(line, rejection.line(), rejection.getMessage());
        assertEquals(field, rejection.field(), rejection.getMessage());
        assertEquals("test.tsv", rejection.source());
        assertTrue(rejection.getMessage().startsWith("test.tsv:" + line + ": " + field + " = "), rejection.getMessage());
    }

    @Test
    void parsesScalarsCommentsAndFiles(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tiny.tsv");
        Files.writeString(file, HEADER + "a.b\tfloat8_e5m2\t3,0\n# later comment\nscale\tfloat32\t\nw\ttorch.int64\t2,3,4\n");
        Inventory tiny = Inventory.load(file);
        assertEquals(List.of(new TensorSpec("a.b", DType.FLOAT8_E5M2, 3, 0), new TensorSpec("scale", DType.FLOAT32),
                new TensorSpec("w", DType.INT64, 2, 3, 4)), tiny.tensors());
        assertEquals(4 + 192, tiny.totalBytes());
        assertEquals(file.toString(), tiny.source());
    }

    @Test
    void rejectsMalformedLinesWithTheirNumber() {
        assertRejected("name\tdtype\n", 1, "header");
        assertRejected("# only comments\n", 1, "header");
        assertRejected(HEADER + "a\tfloat32\t1\nb\tfloat32\n", 4, "line");
        assertRejected(HEADER + "a\tfloat32\t1\tx\n", 3, "line");
        assertRejected(HEADER + "a\tbf16\t1\n", 3, "dtype");
        assertRejected(HEADER + "a\tfloat32\t1,,2\n", 3, "shape[1]");
        assertRejected(HEADER + "a\tfloat32\t-1\n", 3, "shape[0]");
        assertRejected(HEADER + "a\tfloat32\t 4\n", 3, "shape[0]");
        assertRejected(HEADER + "a\tfloat32\t99999999999999999999\n", 3, "shape[0]");
        assertRejected(HEADER + "a\tfloat32\t4294967296,4294967296\n", 3, "shape");
        assertRejected(HEADER + "\tfloat32\t4\n", 3, "name");
        assertRejected(HEADER + "a\tfloat32\t4\n\n", 4, "line");
        assertRejected(HEADER + "a\tfloat32\t4\nb\tint8\t1\na\tint8\t2\n", 5, "name");
    }

    @Test
    void aFileThatIsNotUtf8IsRejectedOnTheLineWithTheBadByte(@TempDir Path dir) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(HEADER.getBytes(StandardCharsets.UTF_8));
        for (int i = 0; i < 500; i++) { // far more than one read buffer before the bad line
            bytes.writeBytes(("t" + i + "\tfloat32\t4\r\n").getBytes(StandardCharsets.UTF_8));
        }
        bytes.writeBytes("bad".getBytes(StandardCharsets.UTF_8));
        bytes.write(0xff);
        bytes.writeBytes("name\tfloat32\t4\n".getBytes(StandardCharsets.UTF_8));
        Path file = Files.write(dir.resolve("latin1.tsv"), bytes.toByteArray());

        InventoryFormatException rejection = assertThrows(InventoryFormatException.class, () -> Inventory.load(file));

        assertEquals(503, rejection.line(), rejection.getMessage());
        assertEquals("encoding", rejection.field());
        assertEquals("\"bad\ufffdname\\u0009float32\\u00094\"", rejection.value());
        assertEquals(file.toString(), rejection.source());
    }

    @Test
    void readsAStreamToItsEndWithoutClosingIt() throws IOException {
        byte[] bytes = (HEADER + "w\tbfloat16\t2,3\ns\tfloat32\t\n").getBytes(StandardCharsets.UTF_8);
        boolean[] closed = {false};
        InputStream in = new ByteArrayInputStream(bytes) {
            @Override
            public void close() {
                closed[0] = true;
            }
        };

        Inventory read = Inventory.read(in, "resource.tsv");

        assertEquals(List.of(new TensorSpec("w", DType.BFLOAT16, 2, 3), new TensorSpec("s", DType.FLOAT32)), read.tensors());
        assertEquals("resource.tsv", read.source());
        assertEquals(-1, in.read(), "read to the end");
        assertFalse(closed[0], "the caller closes the stream");
    }

    @Test
    void crLfAndLoneCrEndLinesLikeTheReaderDoes(@TempDir Path dir) throws IOException {
        String text = HEADER + "a\tfloat32\t4\r\nb\tint8\t2,2\rc\tint8\t\n\nd\tint8\t1";
        Path file = Files.writeString(dir.resolve("mixed.tsv"), text.replace("\n\nd", "\nd"));

        assertEquals(List.of(new TensorSpec("a", DType.FLOAT32, 4), new TensorSpec("b", DType.INT8, 2, 2),
                new TensorSpec("c", DType.INT8), new TensorSpec("d", DType.INT8, 1)), Inventory.load(file).tensors());
        assertEquals(parse(text.replace("\n\nd", "\nd")).tensors(), Inventory.load(file).tensors());
        assertEquals(6, assertThrows(InventoryFormatException.class,
                () -> Inventory.load(Files.writeString(dir.resolve("blank.tsv"), text))).line());
    }

    @Test
    void aTotalSizeBeyondALongIsRejectedOnTheLineThatOverflows() {
        long half = 1L << 62;
        InventoryFormatException rejection = assertThrows(InventoryFormatException.class,
                () -> parse(HEADER + "a\tint8\t" + half + "\nb\tint8\t2," + half / 2 + "\n"));

        assertEquals(4, rejection.line(), rejection.getMessage());
        assertEquals("shape", rejection.field());
        assertEquals("\"2," + half / 2 + "\"", rejection.value());
        assertTrue(rejection.reason().contains(half + " bytes before this tensor"), rejection.getMessage());

        PlanFormatException listed = assertThrows(PlanFormatException.class, () -> Inventory.of("list",
                List.of(new TensorSpec("a", DType.INT8, half), new TensorSpec("b", DType.INT8, half))));
        assertEquals("tensors[1].byteSize", listed.field());
        assertEquals(Long.toString(half), listed.value());
    }

    @Test
    void scalingShrinksTheLargestDimensionDeterministically() throws IOException {
        Inventory inventory = parse(HEADER + "w\tbfloat16\t8,1000\ns\tfloat32\t\ne\tint8\t0,5\nv\tfloat32\t3\nc\tint8\t6,6\n");
        Inventory scaled = inventory.scaledDown(10);
        assertEquals(List.of(new TensorSpec("w", DType.BFLOAT16, 8, 100), new TensorSpec("s", DType.FLOAT32),
                new TensorSpec("e", DType.INT8, 0, 5), new TensorSpec("v", DType.FLOAT32, 1), new TensorSpec("c", DType.INT8, 1, 6)),
                scaled.tensors());
        assertEquals(scaled.tensors(), inventory.scaledDown(10).tensors());
        assertSame(inventory, inventory.scaledDown(1));
        assertThrows(IllegalArgumentException.class, () -> inventory.scaledDown(0));
    }

    @Test
    void scaledToFitUsesTheSmallestSufficientFactor() {
        Inventory next = DemoInventories.load("qwen3-next-80b-a3b");
        long budget = 1L << 30;
        Inventory fitted = next.scaledToFit(budget);
        assertTrue(fitted.totalBytes() <= budget, fitted.toString());
        long factor = Long.parseLong(fitted.source().replaceAll(".*1/", ""));
        assertTrue(next.scaledDown(factor - 1).totalBytes() > budget, "factor " + factor + " is the smallest");
        assertEquals(next.size(), fitted.size());
        for (int i = 0; i < next.size(); i += 997) {
            TensorSpec original = next.tensors().get(i);
            TensorSpec small = fitted.tensors().get(i);
            assertEquals(original.name(), small.name());
            assertEquals(original.dtype(), small.dtype());
            assertEquals(original.rank(), small.rank());
            assertTrue(small.numel() >= 1 && small.numel() <= original.numel());
        }
        assertArrayEquals(PlanCodec.encode(BucketPlanner.plan(fitted.tensors(), 1 << 24)),
                PlanCodec.encode(BucketPlanner.plan(next.scaledToFit(budget).tensors(), 1 << 24)), "deterministic");
        assertThrows(IllegalArgumentException.class, () -> next.scaledToFit(1000));
    }

    /**
     * The inventory fingerprint is SHA-256 of exactly the documented bytes (rebuilt here by hand), is the same for
     * plans of any bucket size while their plan fingerprints differ, and changes with any name, dtype, shape or the
     * order.
     */
    @Test
    void fingerprintCoversNamesDtypesShapesAndOrderButNotTheBucketSize() throws Exception {
        List<TensorSpec> tensors = List.of(new TensorSpec("w\u00e9", DType.BFLOAT16, 3, 2),
                new TensorSpec("scale", DType.FLOAT32));
        java.nio.ByteBuffer documented = java.nio.ByteBuffer.allocate(64).put("PNIF".getBytes(StandardCharsets.US_ASCII))
                .putInt(1).putInt(2)
                .putInt(3).put("w\u00e9".getBytes(StandardCharsets.UTF_8)).put((byte) DType.BFLOAT16.code()).put((byte) 2)
                .putLong(3).putLong(2)
                .putInt(5).put("scale".getBytes(StandardCharsets.UTF_8)).put((byte) DType.FLOAT32.code()).put((byte) 0)
                .flip();
        byte[] expected = java.security.MessageDigest.getInstance("SHA-256").digest(
                java.util.Arrays.copyOf(documented.array(), documented.limit()));
        String fingerprint = Inventory.fingerprint(tensors);
        assertEquals(java.util.HexFormat.of().formatHex(expected), fingerprint);
        assertEquals(fingerprint, Inventory.of("test", tensors).fingerprint());

        BucketPlan small = BucketPlanner.plan(tensors, 8);
        BucketPlan large = BucketPlanner.plan(tensors, 1 << 20);
        assertFalse(small.fingerprint().equals(large.fingerprint()), "the plans differ");
        assertEquals(fingerprint, small.inventoryFingerprint());
        assertEquals(fingerprint, large.inventoryFingerprint());

        List<List<TensorSpec>> others = List.of(
                List.of(tensors.get(0).withShape(2, 3), tensors.get(1)),
                List.of(new TensorSpec("w\u00e9", DType.FLOAT16, 3, 2), tensors.get(1)),
                List.of(tensors.get(0), new TensorSpec("scales", DType.FLOAT32)),
                List.of(tensors.get(1), tensors.get(0)),
                List.of(tensors.get(0)));
        for (List<TensorSpec> other : others) {
            assertFalse(fingerprint.equals(Inventory.fingerprint(other)), other.toString());
        }
    }
}
