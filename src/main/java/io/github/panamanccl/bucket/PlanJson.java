package io.github.panamanccl.bucket;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * JSON form of a {@link BucketPlan}, for people and for Python tools (dtypes are torch names):
 * <pre>
 * {"format": "panama-nccl-bucket-plan", "version": 1, "bucketCapBytes": 536870912, "alignment": 256,
 *  "fingerprint": "…sha-256 hex…", "buckets": [536870656, …],
 *  "tensors": [{"name": "model.embed_tokens.weight", "dtype": "bfloat16", "shape": [151936, 2048],
 *               "byteSize": 622329856, "pieces": [{"bucket": 0, "offset": 0, "length": 536870912}, …]}, …]}
 * </pre>
 * Import is strict: unknown or duplicate keys, wrong types, trailing content and every rule of
 * {@link BucketPlan} are rejected with {@link PlanFormatException}; {@code fingerprint} and {@code byteSize}
 * are optional on import and, when present, must match.
 */
public final class PlanJson {
    /** Value of the {@code format} key. */
    public static final String FORMAT = "panama-nccl-bucket-plan";

    /** The longest string a valid plan holds: a tensor name (at most as many characters as UTF-8 bytes). */
    private static final int MAX_STRING_CHARS = TensorSpec.MAX_NAME_BYTES;
    private static final JsonFactory FACTORY = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(MAX_STRING_CHARS).build())
            .build();
    private static final Set<String> ROOT_KEYS =
            Set.of("format", "version", "bucketCapBytes", "alignment", "fingerprint", "buckets", "tensors");
    private static final Set<String> TENSOR_KEYS = Set.of("name", "dtype", "shape", "byteSize", "pieces");
    private static final Set<String> PIECE_KEYS = Set.of("bucket", "offset", "length");

    private PlanJson() {
    }

    /** The plan as JSON, one tensor per line. */
    public static String toJson(BucketPlan plan) {
        StringWriter text = new StringWriter(plan.tensorCount() * 160 + 256);
        try (JsonGenerator out = FACTORY.createGenerator(text)) {
            out.writeStartObject();
            out.writeStringField("format", FORMAT);
            out.writeNumberField("version", PlanCodec.VERSION);
            out.writeNumberField("bucketCapBytes", plan.bucketCapBytes());
            out.writeNumberField("alignment", plan.alignment());
            out.writeStringField("fingerprint", plan.fingerprint());
            out.writeArrayFieldStart("buckets");
            for (int b = 0; b < plan.bucketCount(); b++) {
                out.writeNumber(plan.bucketByteSize(b));
            }
            out.writeEndArray();
            out.writeArrayFieldStart("tensors");
            for (int t = 0; t < plan.tensorCount(); t++) {
                TensorSpec spec = plan.tensor(t);
                out.writeRaw("\n");
                out.writeStartObject();
                out.writeStringField("name", spec.name());
                out.writeStringField("dtype", spec.dtype().torchName());
                out.writeArrayFieldStart("shape");
                for (int axis = 0; axis < spec.rank(); axis++) {
                    out.writeNumber(spec.dim(axis));
                }
                out.writeEndArray();
                out.writeNumberField("byteSize", spec.byteSize());
                out.writeArrayFieldStart("pieces");
                for (int p = plan.firstPieceOfTensor(t), to = plan.firstPieceOfTensor(t + 1); p < to; p++) {
                    out.writeStartObject();
                    out.writeNumberField("bucket", plan.pieceBucket(p));
                    out.writeNumberField("offset", plan.pieceOffset(p));
                    out.writeNumberField("length", plan.pieceLength(p));
                    out.writeEndObject();
                }
                out.writeEndArray();
                out.writeEndObject();
            }
            out.writeRaw("\n");
            out.writeEndArray();
            out.writeEndObject();
        } catch (IOException impossible) {
            throw new UncheckedIOException(impossible); // a StringWriter does not fail
        }
        return text.toString();
    }

    /**
     * Reads a plan from JSON, checking it like {@link PlanCodec#decode}. The text is read as a stream, never as a
     * tree: each count is checked against {@link BucketPlan}'s limits as it grows and strings longer than any
     * valid value are refused, so memory stays proportional to a plan this library accepts, whatever the input.
     *
     * @throws PlanFormatException naming the first bad field (field {@code json} for text that is not JSON)
     */
    public static BucketPlan fromJson(String json) {
        Objects.requireNonNull(json, "json");
        try (JsonParser parser = FACTORY.createParser(json)) {
            return new Reader(parser).plan();
        } catch (JsonProcessingException bad) {
            throw new PlanFormatException("json", location(bad.getLocation()), bad.getOriginalMessage());
        } catch (IOException impossible) {
            throw new UncheckedIOException(impossible); // reading a String does not fail otherwise
        }
    }

    private static String location(JsonLocation location) {
        return location == null ? "?" : "line " + location.getLineNr() + " column " + location.getColumnNr();
    }

    /** One pass over the tokens, filling growable arrays whose sizes are checked before each append. */
    private static final class Reader {
        private final JsonParser parser;
        private final Set<String> rootKeysSeen = new HashSet<>();
        private long bucketCapBytes;
        private long alignment;
        private String fingerprintText;
        private String fingerprintShown;
        private long[] bucketSizes = new long[16];
        private int bucketCount;
        private final List<TensorSpec> tensors = new ArrayList<>();
        private int[] firstPiece = new int[16];
        private long nameBytes;
        private int[] pieceBucket = new int[16];
        private long[] pieceOffset = new long[16];
        private long[] pieceLength = new long[16];
        private int pieceCount;

        Reader(JsonParser parser) {
            this.parser = parser;
        }

        BucketPlan plan() throws IOException {
            parser.nextToken();
            requireToken(JsonToken.START_OBJECT, "$", "not an object");
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String key = parser.currentName();
                parser.nextToken();
                rootValue(key);
                rootKeysSeen.add(key);
            }
            for (String key : List.of("format", "version", "bucketCapBytes", "alignment", "buckets", "tensors")) {
                if (!rootKeysSeen.contains(key)) {
                    throw new PlanFormatException(key, "missing", "required");
                }
            }
            if (parser.nextToken() != null) {
                throw new PlanFormatException("json", location(parser.currentTokenLocation()),
                        "trailing content after the plan");
            }
            BucketPlan.checkHeader(bucketCapBytes, alignment, tensors.size(), bucketCount, pieceCount);
            firstPiece[tensors.size()] = pieceCount;
            for (int t = 0; t < tensors.size(); t++) {
                for (int p = firstPiece[t]; p < firstPiece[t + 1]; p++) {
                    if (pieceBucket[p] >= bucketCount) {
                        throw new PlanFormatException("tensors[" + t + "].pieces[" + (p - firstPiece[t]) + "].bucket",
                                pieceBucket[p], "no such bucket (bucketCount = " + bucketCount + ")");
                    }
                }
            }
            BucketPlan plan = BucketPlan.of(bucketCapBytes, alignment, tensors.toArray(TensorSpec[]::new),
                    Arrays.copyOf(bucketSizes, bucketCount), Arrays.copyOf(firstPiece, tensors.size() + 1),
                    Arrays.copyOf(pieceBucket, pieceCount), Arrays.copyOf(pieceOffset, pieceCount),
                    Arrays.copyOf(pieceLength, pieceCount));
            if (fingerprintShown != null && !plan.fingerprint().equals(fingerprintText)) {
                throw new PlanFormatException("fingerprint", fingerprintShown, "differs from the plan's " + plan.fingerprint());
            }
            return plan;
        }

        private void rootValue(String key) throws IOException {
            switch (key) {
                case "format" -> {
                    if (parser.currentToken() != JsonToken.VALUE_STRING || !FORMAT.equals(text("format"))) {
                        throw new PlanFormatException("format", shown("format"), "must be \"" + FORMAT + "\"");
                    }
                }
                case "version" -> {
                    long version = integer("version");
                    if (version != PlanCodec.VERSION) {
                        throw new PlanFormatException("version", version,
                                "unsupported (this build reads version " + PlanCodec.VERSION + ")");
                    }
                }
                case "bucketCapBytes" -> bucketCapBytes = integer("bucketCapBytes");
                case "alignment" -> alignment = integer("alignment");
                case "fingerprint" -> {
                    fingerprintText = parser.currentToken() == JsonToken.VALUE_STRING ? text("fingerprint") : null;
                    fingerprintShown = shown("fingerprint");
                }
                case "buckets" -> buckets();
                case "tensors" -> tensors();
                default -> throw new PlanFormatException("$", PlanFormatException.quote(key),
                        "unknown key; allowed: " + ROOT_KEYS);
            }
        }

        private void buckets() throws IOException {
            requireToken(JsonToken.START_ARRAY, "buckets", "not an array");
            while (parser.nextToken() != JsonToken.END_ARRAY) {
                if (bucketCount == BucketPlan.MAX_BUCKETS) {
                    throw tooMany("bucketCount", BucketPlan.MAX_BUCKETS);
                }
                long size = integer("buckets[" + bucketCount + "].byteSize");
                if (bucketCount == bucketSizes.length) {
                    bucketSizes = Arrays.copyOf(bucketSizes, grown(bucketCount, BucketPlan.MAX_BUCKETS));
                }
                bucketSizes[bucketCount++] = size;
            }
        }

        private void tensors() throws IOException {
            requireToken(JsonToken.START_ARRAY, "tensors", "not an array");
            while (parser.nextToken() != JsonToken.END_ARRAY) {
                int t = tensors.size();
                if (t == BucketPlan.MAX_TENSORS) {
                    throw tooMany("tensorCount", BucketPlan.MAX_TENSORS);
                }
                if (t + 1 >= firstPiece.length) {
                    firstPiece = Arrays.copyOf(firstPiece, grown(t + 1, BucketPlan.MAX_TENSORS + 1));
                }
                firstPiece[t] = pieceCount;
                tensors.add(tensor("tensors[" + t + "]"));
            }
        }

        private TensorSpec tensor(String field) throws IOException {
            requireToken(JsonToken.START_OBJECT, field, "not an object");
            String name = null;
            DType dtype = null;
            long[] shape = null;
            Long byteSize = null;
            boolean pieces = false;
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String key = parser.currentName();
                parser.nextToken();
                switch (key) {
                    case "name" -> {
                        requireToken(JsonToken.VALUE_STRING, field + ".name", "not a string");
                        name = text(field + ".name");
                    }
                    case "dtype" -> dtype = dtype(field + ".dtype");
                    case "shape" -> shape = shape(field + ".shape");
                    case "byteSize" -> byteSize = integer(field + ".byteSize");
                    case "pieces" -> {
                        pieces(field);
                        pieces = true;
                    }
                    default -> throw new PlanFormatException(field, PlanFormatException.quote(key),
                            "unknown key; allowed: " + TENSOR_KEYS);
                }
            }
            requirePresent(name != null, field + ".name");
            requirePresent(dtype != null, field + ".dtype");
            requirePresent(shape != null, field + ".shape");
            requirePresent(pieces, field + ".pieces");
            TensorSpec spec;
            try {
                spec = new TensorSpec(name, dtype, shape);
            } catch (PlanFormatException bad) {
                throw bad.within(field);
            }
            if (byteSize != null && byteSize != spec.byteSize()) {
                throw new PlanFormatException(field + ".byteSize", byteSize, "differs from numel " + spec.numel()
                        + " x " + dtype.byteSize() + " = " + spec.byteSize());
            }
            nameBytes += spec.nameUtf8().length;
            if (nameBytes > BucketPlan.MAX_TOTAL_NAME_BYTES) {
                throw new PlanFormatException(field + ".name", PlanFormatException.quote(name),
                        "names exceed " + BucketPlan.MAX_TOTAL_NAME_BYTES + " bytes in all");
            }
            return spec;
        }

        private DType dtype(String field) throws IOException {
            requireToken(JsonToken.VALUE_STRING, field, "not a string");
            String name = text(field);
            try {
                return DType.fromTorchName(name);
            } catch (IllegalArgumentException unknown) {
                throw new PlanFormatException(field, PlanFormatException.quote(name), "unknown; known: " + DType.knownNames());
            }
        }

        private long[] shape(String field) throws IOException {
            requireToken(JsonToken.START_ARRAY, field, "not an array");
            long[] dims = new long[TensorSpec.MAX_RANK];
            int rank = 0;
            while (parser.nextToken() != JsonToken.END_ARRAY) {
                if (rank == TensorSpec.MAX_RANK) {
                    throw new PlanFormatException(field, "more than " + TensorSpec.MAX_RANK + " entries",
                            "rank above " + TensorSpec.MAX_RANK);
                }
                dims[rank] = integer(field + "[" + rank + "]");
                rank++;
            }
            return Arrays.copyOf(dims, rank);
        }

        private void pieces(String tensorField) throws IOException {
            requireToken(JsonToken.START_ARRAY, tensorField + ".pieces", "not an array");
            for (int k = 0; parser.nextToken() != JsonToken.END_ARRAY; k++) {
                if (pieceCount == BucketPlan.MAX_PIECES) {
                    throw tooMany("pieceCount", BucketPlan.MAX_PIECES);
                }
                piece(tensorField + ".pieces[" + k + "]");
            }
        }

        private void piece(String field) throws IOException {
            requireToken(JsonToken.START_OBJECT, field, "not an object");
            Long bucket = null;
            Long offset = null;
            Long length = null;
            while (parser.nextToken() == JsonToken.FIELD_NAME) {
                String key = parser.currentName();
                parser.nextToken();
                switch (key) {
                    case "bucket" -> bucket = integer(field + ".bucket");
                    case "offset" -> offset = integer(field + ".offset");
                    case "length" -> length = integer(field + ".length");
                    default -> throw new PlanFormatException(field, PlanFormatException.quote(key),
                            "unknown key; allowed: " + PIECE_KEYS);
                }
            }
            requirePresent(bucket != null, field + ".bucket");
            requirePresent(offset != null, field + ".offset");
            requirePresent(length != null, field + ".length");
            // Checked against the bucket count once the whole document is read: "buckets" may come later.
            if (bucket < 0 || bucket >= BucketPlan.MAX_BUCKETS) {
                throw new PlanFormatException(field + ".bucket", bucket,
                        "no such bucket (a plan has at most " + BucketPlan.MAX_BUCKETS + ")");
            }
            if (pieceCount == pieceBucket.length) {
                int capacity = grown(pieceCount, BucketPlan.MAX_PIECES);
                pieceBucket = Arrays.copyOf(pieceBucket, capacity);
                pieceOffset = Arrays.copyOf(pieceOffset, capacity);
                pieceLength = Arrays.copyOf(pieceLength, capacity);
            }
            pieceBucket[pieceCount] = bucket.intValue();
            pieceOffset[pieceCount] = offset;
            pieceLength[pieceCount] = length;
            pieceCount++;
        }

        private void requireToken(JsonToken expected, String field, String reason) throws IOException {
            if (parser.currentToken() != expected) {
                throw new PlanFormatException(field, shown(field), reason);
            }
        }

        private static void requirePresent(boolean present, String field) {
            if (!present) {
                throw new PlanFormatException(field, "missing", "required");
            }
        }

        private long integer(String field) throws IOException {
            if (parser.currentToken() != JsonToken.VALUE_NUMBER_INT
                    || parser.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw new PlanFormatException(field, shown(field), "not an integer in [-2^63, 2^63)");
            }
            return parser.getLongValue();
        }

        /** The current string; one longer than any valid value (a tensor name) is refused before it is built. */
        private String text(String field) throws IOException {
            try {
                return parser.getText();
            } catch (StreamConstraintsException tooLong) {
                throw new PlanFormatException(field, "a string of more than " + MAX_STRING_CHARS + " characters",
                        "longer than any valid value (names are at most " + TensorSpec.MAX_NAME_BYTES + " UTF-8 bytes)");
            }
        }

        /** The current value for a message: scalars as written (shortened), containers as [...] or {...}. */
        private String shown(String field) throws IOException {
            JsonToken token = parser.currentToken();
            if (token == null) {
                return "end of input";
            }
            if (token == JsonToken.VALUE_STRING) {
                return PlanFormatException.quote(text(field));
            }
            if (token == JsonToken.START_ARRAY) {
                return parser.nextToken() == JsonToken.END_ARRAY ? "[]" : "[...]";
            }
            if (token == JsonToken.START_OBJECT) {
                return parser.nextToken() == JsonToken.END_OBJECT ? "{}" : "{...}";
            }
            String text = parser.getText();
            return text.length() > 80 ? text.substring(0, 77) + "..." : text;
        }

        private static PlanFormatException tooMany(String field, int max) {
            return new PlanFormatException(field, "more than " + max, "outside [0, " + max + "]");
        }

        /** Doubles a capacity, never past {@code max} (the limit the caller checks before appending). */
        private static int grown(int size, int max) {
            return (int) Math.min(Math.max(16, 2L * size), max);
        }
    }
}
