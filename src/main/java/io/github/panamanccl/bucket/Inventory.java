package io.github.panamanccl.bucket;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * An ordered list of tensors (a model's parameters), read from a TSV inventory.
 *
 * <p>Format: lines starting with {@code #} are comments; the first other line is the header
 * {@code name<TAB>dtype<TAB>shape}; then one tensor per line: name, torch dtype name, shape as comma-separated
 * non-negative integers (empty = scalar). Any other line is rejected with its line number
 * ({@link InventoryFormatException}). Two inventories ship as resources ({@link #builtInNames()}).
 */
public final class Inventory {
    private static final String RESOURCE_DIR = "/io/github/panamanccl/inventories/";
    private static final List<String> BUILT_IN = List.of("qwen3-30b-a3b", "qwen3-next-80b-a3b");
    private static final String HEADER = "name\tdtype\tshape";

    private final String source;
    private final List<TensorSpec> tensors;
    private final long totalBytes;

    private Inventory(String source, List<TensorSpec> tensors) {
        this.source = source;
        this.tensors = Collections.unmodifiableList(tensors);
        long total = 0;
        for (TensorSpec tensor : tensors) {
            total = Math.addExact(total, tensor.byteSize());
        }
        this.totalBytes = total;
    }

    /**
     * An inventory from a list of tensors.
     *
     * @throws PlanFormatException for duplicate names
     */
    public static Inventory of(String source, List<TensorSpec> tensors) {
        List<TensorSpec> copy = List.copyOf(tensors);
        Map<String, Integer> seen = HashMap.newHashMap(copy.size());
        for (int i = 0; i < copy.size(); i++) {
            Integer earlier = seen.putIfAbsent(copy.get(i).name(), i);
            if (earlier != null) {
                throw new PlanFormatException("tensors[" + i + "].name", PlanFormatException.quote(copy.get(i).name()),
                        "duplicate of tensors[" + earlier + "]");
            }
        }
        return new Inventory(source, copy);
    }

    /** Names of the inventories shipped with the library. */
    public static List<String> builtInNames() {
        return BUILT_IN;
    }

    /**
     * A shipped inventory: {@code qwen3-30b-a3b} (18 867 tensors) or {@code qwen3-next-80b-a3b} (74 391 tensors).
     *
     * @throws IllegalArgumentException for another name
     */
    public static Inventory builtIn(String name) {
        if (!BUILT_IN.contains(name)) {
            throw new IllegalArgumentException("no built-in inventory '" + name + "'; known: " + BUILT_IN);
        }
        String resource = RESOURCE_DIR + name + ".tsv";
        try (InputStream in = Inventory.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("resource " + resource + " missing from the library");
            }
            return parse(new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)), name);
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + resource, e);
        }
    }

    /**
     * Reads an inventory file (UTF-8).
     *
     * @throws InventoryFormatException for a malformed line
     * @throws UncheckedIOException     when the file cannot be read
     */
    public static Inventory load(Path file) {
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return parse(in, file.toString());
        } catch (CharacterCodingException e) {
            throw new InventoryFormatException(file.toString(), 0, "encoding", "?", "not valid UTF-8");
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
    }

    /**
     * Reads an inventory from text.
     *
     * @param source names the text in messages (a file name)
     * @throws InventoryFormatException for a malformed line
     */
    public static Inventory parse(Reader text, String source) throws IOException {
        BufferedReader in = text instanceof BufferedReader buffered ? buffered : new BufferedReader(text);
        List<TensorSpec> tensors = new ArrayList<>();
        Map<String, Long> lineByName = new HashMap<>();
        boolean headerSeen = false;
        long lineNumber = 0;
        for (String line = in.readLine(); line != null; line = in.readLine()) {
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
            tensors.add(tensor);
        }
        if (!headerSeen) {
            throw new InventoryFormatException(source, lineNumber, "header", "missing", "no header line");
        }
        return new Inventory(source, tensors);
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

    /** Where the inventory came from (built-in name or file). */
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
        for (TensorSpec tensor : tensors) {
            int axis = largestAxis(tensor);
            if (axis < 0) {
                scaled.add(tensor);
            } else {
                long[] shape = tensor.shape();
                shape[axis] = Math.max(1, shape[axis] / factor);
                scaled.add(tensor.withShape(shape));
            }
        }
        return new Inventory(source + " scaled 1/" + factor, scaled);
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
