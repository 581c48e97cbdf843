package io.github.panamanccl.bucket;

/**
 * A tensor spec, plan or encoded plan that breaks a rule. {@link #field()} names the offending field as a
 * path (e.g. {@code tensors[12].pieces[0].offset}), {@link #value()} is the bad value as text.
 *
 * <p>Decoders ({@link PlanCodec}, {@link PlanJson}) throw only this type for bad input, whatever the bytes.
 */
public class PlanFormatException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String field;
    private final String value;
    private final String reason;

    /**
     * A rejection with the message {@code field = value: reason}.
     *
     * @param field  path of the offending field
     * @param value  the bad value as text
     * @param reason which rule the value breaks
     */
    public PlanFormatException(String field, String value, String reason) {
        super(field + " = " + value + ": " + reason);
        this.field = field;
        this.value = value;
        this.reason = reason;
    }

    /** For subclasses that word the message differently. */
    PlanFormatException(String message, String field, String value, String reason) {
        super(message);
        this.field = field;
        this.value = value;
        this.reason = reason;
    }

    PlanFormatException(String field, long value, String reason) {
        this(field, Long.toString(value), reason);
    }

    /** Path of the offending field. */
    public String field() {
        return field;
    }

    /** The bad value as text (strings are quoted and shortened). */
    public String value() {
        return value;
    }

    /** The rule the value breaks. */
    public String reason() {
        return reason;
    }

    /** The same rejection with {@code prefix.} in front of the field path. */
    PlanFormatException within(String prefix) {
        PlanFormatException moved = new PlanFormatException(prefix + "." + field, value, reason);
        moved.setStackTrace(getStackTrace());
        return moved;
    }

    /** A string value quoted for messages, shortened so a hostile input cannot flood logs. */
    static String quote(String text) {
        String shown = text.length() > 80 ? text.substring(0, 77) + "..." : text;
        StringBuilder quoted = new StringBuilder(shown.length() + 2).append('"');
        shown.codePoints().forEach(c -> {
            if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
                quoted.append(String.format("\\u%04x", c));
            } else {
                quoted.appendCodePoint(c);
            }
        });
        return quoted.append('"').toString();
    }
}
