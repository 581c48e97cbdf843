package io.github.panamanccl.bucket;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * An ordered list of tensors (a model's parameters), read from a TSV inventory.
 *
 * <p>Format: lines starting with {@code #} are comments; the first other line is the header
 * {@code name<TAB>dtype<TAB>shape}; then one tensor per line: name, torch dtype name, shape as comma-separated
 * non-negative integers (empty = scalar). Any other line is rejected with its line number
 * ({@link InventoryFormatException}).
 */
public final class Inventory {
    private static final String HEADER = "name\tdtype\tshape";

    private final String source;
    private final List<TensorSpec> tensors;
    private final long totalBytes;

    private Inventory(String source, List<TensorSpec> tensors, long totalBytes) {
        this.source = source;
        this.tensors = Collections.unmodifiableList(tensors);
        this.totalBytes = totalBytes;
    }

    /**
     * An inventory from a list of tensors.
     *
     * @throws PlanFormatException for duplicate names, or when the total byte size overflows a long
     */
    public static Inventory of(String source, List<TensorSpec> tensors) {
        List<TensorSpec> copy = List.copyOf(tensors);
        Map<String, Integer> seen = HashMap.newHashMap(copy.size());
        long total = 0;
        for (int i = 0; i < copy.size(); i++) {
            TensorSpec tensor = copy.get(i);
            Integer earlier = seen.putIfAbsent(tensor.name(), i);
            if (earlier != null) {
                throw new PlanFormatException("tensors[" + i + "].name", PlanFormatException.quote(tensor.name()),
                        "duplicate of tensors[" + earlier + "]");
            }
            if (tensor.byteSize() > Long.MAX_VALUE - total) {
                throw new PlanFormatException("tensors[" + i + "].byteSize", tensor.byteSize(), totalOverflow(total));
            }
            total += tensor.byteSize();
        }
        return new Inventory(source, copy, total);
    }

    private static String totalOverflow(long totalBefore) {
        return "the inventory's total byte size overflows a long (" + totalBefore + " bytes before this tensor)";
    }

    /**
     * Reads an inventory file (UTF-8).
     *
     * @throws InventoryFormatException for a malformed line
     * @throws UncheckedIOException     when the file cannot be read
     */
    public static Inventory load(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString());
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
    }

    /**
     * Reads an inventory from UTF-8 bytes (e.g. a resource), to their end; the stream is not closed.
     *
     * @param source names the bytes in messages (a file or resource name)
     * @throws InventoryFormatException for a malformed line, including one that is not valid UTF-8
     * @throws IOException              when {@code in} cannot be read
     */
    public static Inventory read(InputStream in, String source) throws IOException {
        return parse(new Utf8Lines(in)::readLine, source);
    }

    /**
     * Reads an inventory from text.
     *
     * @param source names the text in messages (a file name)
     * @throws InventoryFormatException for a malformed line
     * @throws IOException              when {@code text} cannot be read
     */
    public static Inventory parse(Reader text, String source) throws IOException {
        BufferedReader in = text instanceof BufferedReader buffered ? buffered : new BufferedReader(text);
        return parse(in::readLine, source);
    }

    /** The next line without its terminator, or null at the end. */
    private interface LineSource {
        String readLine() throws IOException;
    }

    private static Inventory parse(LineSource in, String source) throws IOException {
        List<TensorSpec> tensors = new ArrayList<>();
        Map<String, Long> lineByName = new HashMap<>();
        long total = 0;
        boolean headerSeen = false;
        long lineNumber = 0;
        for (String line = next(in, source, lineNumber); line != null; line = next(in, source, lineNumber)) {
            lineNumber++;
            if (line.startsWith("#")) {
                continue;
            }
            if (!headerSeen) {
                if (!line.equals(HEADER)) {
                    throw new InventoryFormatException(source, lineNumber, "header", PlanFormatException.quote(line),
                            "expected \"name<TAB>dtype<TAB>shape\"");
                }
                headerSeen = true;
                continue;
            }
            TensorSpec tensor = parseLine(line, source, lineNumber);
            Long earlier = lineByName.putIfAbsent(tensor.name(), lineNumber);
            if (earlier != null) {
                throw new InventoryFormatException(source, lineNumber, "name", PlanFormatException.quote(tensor.name()),
                        "duplicate of line " + earlier);
            }
            if (tensor.byteSize() > Long.MAX_VALUE - total) {
                throw new InventoryFormatException(source, lineNumber, "shape",
                        PlanFormatException.quote(line.substring(line.lastIndexOf('\t') + 1)),
                        tensor.byteSize() + " bytes: " + totalOverflow(total));
            }
            total += tensor.byteSize();
            tensors.add(tensor);
        }
        if (!headerSeen) {
            throw new InventoryFormatException(source, lineNumber, "header", "missing", "no header line");
        }
        return new Inventory(source, tensors, total);
    }

    /** Reads line {@code lineNumber + 1}, reporting a decoding error on that line. */
    private static String next(LineSource in, String source, long lineNumber) throws IOException {
        try {
            return in.readLine();
        } catch (MalformedLine bad) {
            throw new InventoryFormatException(source, lineNumber + 1, "encoding", PlanFormatException.quote(bad.shown),
                    "not valid UTF-8 (the bad bytes are shown as U+FFFD)");
        }
    }

    /** A line whose bytes are not UTF-8; {@code shown} is the line with the bad bytes replaced. */
    private static final class MalformedLine extends CharacterCodingException {
        private static final long serialVersionUID = 1L;

        private final transient String shown;

        MalformedLine(String shown) {
            this.shown = shown;
        }
    }

    /**
     * UTF-8 lines decoded one at a time, so a bad byte is reported on its own line (a decoding reader fails on
     * the first read of the block that holds it, lines earlier). Terminators as BufferedReader: LF, CR, CRLF.
     */
    private static final class Utf8Lines {
        private final InputStream in;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder(); // reports malformed input
        private final byte[] buffer = new byte[8192];
        private int position;
        private int limit;
        private byte[] line = new byte[256];
        private boolean skipLineFeed;

        Utf8Lines(InputStream in) {
            this.in = in;
        }

        String readLine() throws IOException {
            int length = 0;
            for (int b = read(); ; b = read()) {
                if (b == '\n' && skipLineFeed) {
                    skipLineFeed = false;
                    continue;
                }
                skipLineFeed = false;
                if (b == -1) {
                    return length == 0 ? null : decode(length);
                }
                if (b == '\n' || b == '\r') {
                    skipLineFeed = b == '\r';
                    return decode(length);
                }
                if (length == line.length) {
                    line = Arrays.copyOf(line, 2 * length);
                }
                line[length++] = (byte) b;
            }
        }

        private int read() throws IOException {
            if (position == limit) {
                limit = in.read(buffer);
                position = 0;
                if (limit <= 0) {
                    limit = 0;
                    return -1;
                }
            }
            return buffer[position++] & 0xff;
        }

        private String decode(int length) throws MalformedLine {
            try {
                return decoder.decode(ByteBuffer.wrap(line, 0, length)).toString();
            } catch (CharacterCodingException malformed) {
                throw new MalformedLine(new String(line, 0, length, StandardCharsets.UTF_8));
            }
        }
    }

    private static TensorSpec parseLine(String line, String source, long lineNumber) {
        String[] fields = line.split("\t", -1);
        if (fields.length != 3) {
            throw new InventoryFormatException(source, lineNumber, "line", PlanFormatException.quote(line),
                    fields.length + " tab-separated fields, expected 3 (name, dtype, shape)");
        }
        DType dtype;
        try {
            dtype = DType.fromTorchName(fields[1]);
        } catch (IllegalArgumentException unknown) {
            throw new InventoryFormatException(source, lineNumber, "dtype", PlanFormatException.quote(fields[1]),
                    "unknown; known: " + DType.knownNames());
        }
        long[] shape = parseShape(fields[2], source, lineNumber);
        try {
            return new TensorSpec(fields[0], dtype, shape);
        } catch (PlanFormatException bad) {
            throw new InventoryFormatException(source, lineNumber, bad.field(), bad.value(), bad.reason());
        }
    }

    private static long[] parseShape(String text, String source, long lineNumber) {
        if (text.isEmpty()) {
            return new long[0];
        }
        String[] dims = text.split(",", -1);
        if (dims.length > TensorSpec.MAX_RANK) {
            throw new InventoryFormatException(source, lineNumber, "shape", PlanFormatException.quote(text),
                    "rank above " + TensorSpec.MAX_RANK);
        }
        long[] shape = new long[dims.length];
        for (int axis = 0; axis < dims.length; axis++) {
            String dim = dims[axis];
            boolean digits = !dim.isEmpty() && dim.length() <= 19;
            for (int i = 0; i < dim.length() && digits; i++) {
                digits = dim.charAt(i) >= '0' && dim.charAt(i) <= '9';
            }
            try {
                if (!digits) {
                    throw new NumberFormatException();
                }
                shape[axis] = Long.parseLong(dim);
            } catch (NumberFormatException notANumber) {
                throw new InventoryFormatException(source, lineNumber, "shape[" + axis + "]", PlanFormatException.quote(dim),
                        "not a non-negative integer (shape " + PlanFormatException.quote(text) + ")");
            }
        }
        return shape;
    }

    /** Where the inventory came from (the source it was read from, or the name it was given). */
    public String source() {
        return source;
    }

    /** The tensors in order (unmodifiable). */
    public List<TensorSpec> tensors() {
        return tensors;
    }

    /** Number of tensors. */
    public int size() {
        return tensors.size();
    }

    /** Bytes of all tensors together. */
    public long totalBytes() {
        return totalBytes;
    }

    /** {@link #fingerprint(List)} of these tensors. */
    public String fingerprint() {
        return fingerprint(tensors);
    }

    /**
     * SHA-256, as 64 lower-case hex digits, of the tensors' names, dtypes and shapes in order, and of nothing
     * else: unlike {@link BucketPlan#fingerprint()} it does not change with the bucket size, the alignment or the
     * planner, so a receiver can require a model without knowing how the sender buckets it. Encoding hashed:
     * {@code "PNIF"}, u32 version 1, u32 count, then per tensor u32 name length, the name's UTF-8, u8 dtype code
     * ({@link DType#code()}), u8 rank, rank x u64 dimension (big-endian).
     */
    public static String fingerprint(List<TensorSpec> tensors) {
        MessageDigest digest = sha256();
        ByteBuffer fixed = ByteBuffer.allocate(4 + 1 + 1 + 8 * TensorSpec.MAX_RANK);
        digest.update(fixed.put(new byte[] {'P', 'N', 'I', 'F'}).putInt(1).putInt(tensors.size()).flip());
        for (TensorSpec tensor : tensors) {
            byte[] name = tensor.nameUtf8();
            digest.update(fixed.clear().putInt(name.length).flip());
            digest.update(name);
            fixed.clear().put((byte) tensor.dtype().code()).put((byte) tensor.rank());
            for (int axis = 0; axis < tensor.rank(); axis++) {
                fixed.putLong(tensor.dim(axis));
            }
            digest.update(fixed.flip());
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException impossible) {
            throw new AssertionError("every JDK has SHA-256", impossible);
        }
    }

    /**
     * The same tensors (names, dtypes, ranks, order) with each tensor's largest dimension (the first one on ties)
     * divided by {@code factor}, rounded down but kept at least 1. Scalars and empty tensors stay as they are.
     */
    public Inventory scaledDown(long factor) {
        if (factor < 1) {
            throw new IllegalArgumentException("factor = " + factor + ": below 1");
        }
        if (factor == 1) {
            return this;
        }
        List<TensorSpec> scaled = new ArrayList<>(tensors.size());
        long total = 0; // no overflow: every tensor shrinks or stays
        for (TensorSpec tensor : tensors) {
            int axis = largestAxis(tensor);
            if (axis < 0) {
                scaled.add(tensor);
            } else {
                long[] shape = tensor.shape();
                shape[axis] = Math.max(1, shape[axis] / factor);
                scaled.add(tensor.withShape(shape));
            }
            total += scaled.getLast().byteSize();
        }
        return new Inventory(source + " scaled 1/" + factor, scaled, total);
    }

    /**
     * {@link #scaledDown} with the smallest factor that brings the total to at most {@code maxTotalBytes}.
     *
     * @throws IllegalArgumentException when even the smallest shapes (largest dimension 1) exceed the budget
     */
    public Inventory scaledToFit(long maxTotalBytes) {
        if (totalBytes <= maxTotalBytes) {
            return this;
        }
        long maxDim = 1;
        for (TensorSpec tensor : tensors) {
            int axis = largestAxis(tensor);
            maxDim = axis < 0 ? maxDim : Math.max(maxDim, tensor.dim(axis));
        }
        if (scaledBytes(maxDim) > maxTotalBytes) {
            throw new IllegalArgumentException(source + " needs at least " + scaledBytes(maxDim)
                    + " bytes however far it is scaled; budget " + maxTotalBytes);
        }
        long low = 1;
        long high = maxDim; // scaledBytes(high) fits, scaledBytes(low) does not
        while (high - low > 1) {
            long middle = low + (high - low) / 2;
            if (scaledBytes(middle) <= maxTotalBytes) {
                high = middle;
            } else {
                low = middle;
            }
        }
        return scaledDown(high);
    }

    /** Total bytes after {@code scaledDown(factor)}, without building it. */
    private long scaledBytes(long factor) {
        long total = 0;
        for (TensorSpec tensor : tensors) {
            int axis = largestAxis(tensor);
            total += axis < 0 ? tensor.byteSize()
                    : tensor.byteSize() / tensor.dim(axis) * Math.max(1, tensor.dim(axis) / factor);
        }
        return total;
    }

    /** The first axis of the largest dimension, or -1 for a scalar or an empty tensor. */
    private static int largestAxis(TensorSpec tensor) {
        if (tensor.rank() == 0 || tensor.numel() == 0) {
            return -1;
        }
        int axis = 0;
        for (int i = 1; i < tensor.rank(); i++) {
            if (tensor.dim(i) > tensor.dim(axis)) {
                axis = i;
            }
        }
        return axis;
    }

    @Override
    public String toString() {
        return "Inventory[" + source + ": " + tensors.size() + " tensors, " + totalBytes + " bytes]";
    }
}
