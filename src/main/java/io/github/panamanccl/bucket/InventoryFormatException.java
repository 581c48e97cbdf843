package io.github.panamanccl.bucket;

/** A malformed line of an inventory file: which file, which line, which field and value. */
public final class InventoryFormatException extends PlanFormatException {
    private static final long serialVersionUID = 1L;

    private final String source;
    private final long line;

    InventoryFormatException(String source, long line, String field, String value, String reason) {
        super(source + ":" + line + ": " + field + " = " + value + ": " + reason, field, value, reason);
        this.source = source;
        this.line = line;
    }

    /** The file or resource read. */
    public String source() {
        return source;
    }

    /** The 1-based line number. */
    public long line() {
        return line;
    }
}
