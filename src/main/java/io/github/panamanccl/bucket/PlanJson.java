package io.github.panamanccl.bucket;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.Map;
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

    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
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
        try (JsonGenerator out = MAPPER.getFactory().createGenerator(text)) {
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
     * Reads a plan from JSON, checking it like {@link PlanCodec#decode}.
     *
     * @throws PlanFormatException naming the first bad field (field {@code json} for text that is not JSON)
     */
    public static BucketPlan fromJson(String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException bad) {
            throw new PlanFormatException("json", bad.getLocation() == null ? "?" : "line " + bad.getLocation().getLineNr()
                    + " column " + bad.getLocation().getColumnNr(), bad.getOriginalMessage());
        }
        requireObject(root, "$", ROOT_KEYS);
        JsonNode format = required(root, "format", "$");
        if (!format.isTextual() || !format.textValue().equals(FORMAT)) {
            throw new PlanFormatException("format", shown(format), "must be \"" + FORMAT + "\"");
        }
        long version = integer(required(root, "version", "$"), "version");
        if (version != PlanCodec.VERSION) {
            throw new PlanFormatException("version", version, "unsupported (this build reads version " + PlanCodec.VERSION + ")");
        }
        long cap = integer(required(root, "bucketCapBytes", "$"), "bucketCapBytes");
        long alignment = integer(required(root, "alignment", "$"), "alignment");
        JsonNode buckets = array(required(root, "buckets", "$"), "buckets");
        JsonNode tensorNodes = array(required(root, "tensors", "$"), "tensors");
        long pieceTotal = 0;
        for (int t = 0; t < tensorNodes.size(); t++) {
            JsonNode tensor = tensorNodes.get(t);
            requireObject(tensor, "tensors[" + t + "]", TENSOR_KEYS);
            pieceTotal += array(required(tensor, "pieces", "tensors[" + t + "]"), "tensors[" + t + "].pieces").size();
        }
        BucketPlan.checkHeader(cap, alignment, tensorNodes.size(), buckets.size(), pieceTotal);
        int pieceCount = (int) pieceTotal;

        long[] bucketSizes = new long[buckets.size()];
        for (int b = 0; b < bucketSizes.length; b++) {
            bucketSizes[b] = integer(buckets.get(b), "buckets[" + b + "].byteSize");
        }
        TensorSpec[] tensors = new TensorSpec[tensorNodes.size()];
        int[] firstPiece = new int[tensors.length + 1];
        int[] pieceBucket = new int[pieceCount];
        long[] pieceOffset = new long[pieceCount];
        long[] pieceLength = new long[pieceCount];
        int p = 0;
        for (int t = 0; t < tensors.length; t++) {
            String field = "tensors[" + t + "]";
            JsonNode node = tensorNodes.get(t);
            tensors[t] = spec(node, field);
            JsonNode pieces = node.get("pieces");
            firstPiece[t] = p;
            for (int k = 0; k < pieces.size(); k++, p++) {
                String pieceField = field + ".pieces[" + k + "]";
                JsonNode piece = pieces.get(k);
                requireObject(piece, pieceField, PIECE_KEYS);
                long bucket = integer(required(piece, "bucket", pieceField), pieceField + ".bucket");
                if (bucket < 0 || bucket >= bucketSizes.length) {
                    throw new PlanFormatException(pieceField + ".bucket", bucket, "no such bucket (bucketCount = " + bucketSizes.length + ")");
                }
                pieceBucket[p] = (int) bucket;
                pieceOffset[p] = integer(required(piece, "offset", pieceField), pieceField + ".offset");
                pieceLength[p] = integer(required(piece, "length", pieceField), pieceField + ".length");
            }
        }
        firstPiece[tensors.length] = p;
        BucketPlan plan = BucketPlan.of(cap, alignment, tensors, bucketSizes, firstPiece, pieceBucket, pieceOffset, pieceLength);
        JsonNode fingerprint = root.get("fingerprint");
        if (fingerprint != null && !(fingerprint.isTextual() && fingerprint.textValue().equals(plan.fingerprint()))) {
            throw new PlanFormatException("fingerprint", shown(fingerprint), "differs from the plan's " + plan.fingerprint());
        }
        return plan;
    }

    private static TensorSpec spec(JsonNode node, String field) {
        JsonNode name = required(node, "name", field);
        if (!name.isTextual()) {
            throw new PlanFormatException(field + ".name", shown(name), "not a string");
        }
        JsonNode dtypeNode = required(node, "dtype", field);
        if (!dtypeNode.isTextual()) {
            throw new PlanFormatException(field + ".dtype", shown(dtypeNode), "not a string");
        }
        DType dtype;
        try {
            dtype = DType.fromTorchName(dtypeNode.textValue());
        } catch (IllegalArgumentException unknown) {
            throw new PlanFormatException(field + ".dtype", shown(dtypeNode), "unknown; known: " + DType.knownNames());
        }
        JsonNode shapeNode = array(required(node, "shape", field), field + ".shape");
        if (shapeNode.size() > TensorSpec.MAX_RANK) {
            throw new PlanFormatException(field + ".shape", shapeNode.size(), "rank above " + TensorSpec.MAX_RANK);
        }
        long[] shape = new long[shapeNode.size()];
        for (int axis = 0; axis < shape.length; axis++) {
            shape[axis] = integer(shapeNode.get(axis), field + ".shape[" + axis + "]");
        }
        TensorSpec spec;
        try {
            spec = new TensorSpec(name.textValue(), dtype, shape);
        } catch (PlanFormatException bad) {
            throw bad.within(field);
        }
        JsonNode byteSize = node.get("byteSize");
        if (byteSize != null && integer(byteSize, field + ".byteSize") != spec.byteSize()) {
            throw new PlanFormatException(field + ".byteSize", shown(byteSize), "differs from numel " + spec.numel()
                    + " x " + dtype.byteSize() + " = " + spec.byteSize());
        }
        return spec;
    }

    private static void requireObject(JsonNode node, String field, Set<String> allowed) {
        if (!node.isObject()) {
            throw new PlanFormatException(field, shown(node), "not an object");
        }
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            String key = entry.getKey();
            if (!allowed.contains(key)) {
                throw new PlanFormatException(field, PlanFormatException.quote(key), "unknown key; allowed: " + allowed);
            }
        }
    }

    private static JsonNode required(JsonNode object, String key, String field) {
        JsonNode value = object.get(key);
        if (value == null) {
            throw new PlanFormatException(field.equals("$") ? key : field + "." + key, "missing", "required");
        }
        return value;
    }

    private static JsonNode array(JsonNode node, String field) {
        if (!node.isArray()) {
            throw new PlanFormatException(field, shown(node), "not an array");
        }
        return node;
    }

    private static long integer(JsonNode node, String field) {
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw new PlanFormatException(field, shown(node), "not an integer in [-2^63, 2^63)");
        }
        return node.longValue();
    }

    private static String shown(JsonNode node) {
        String text = node.toString();
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }
}
