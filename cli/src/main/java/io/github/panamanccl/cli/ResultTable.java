package io.github.panamanccl.cli;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The demo's closing table: one row per timed sync, columns aligned. */
final class ResultTable {
    private static final String[] HEADERS = {
        "mode", "version", "bytes", "tensors", "buckets", "collective calls", "seconds", "GB/s", "verified"};

    /** One timed sync of the whole model. */
    record Row(String mode, long version, long bytes, int tensors, int buckets, long collectiveCalls, double seconds,
               int receiversVerified, int receivers) {
        double gigabytesPerSecond() {
            return seconds > 0 ? bytes / seconds / 1e9 : Double.NaN;
        }

        String[] cells() {
            return new String[] {
                mode,
                Long.toString(version),
                ByteSizeConverter.format(bytes),
                Integer.toString(tensors),
                buckets == 0 ? "-" : Integer.toString(buckets),
                Long.toString(collectiveCalls),
                String.format(Locale.ROOT, "%.3f", seconds),
                String.format(Locale.ROOT, "%.2f", gigabytesPerSecond()),
                receiversVerified + "/" + receivers};
        }
    }

    private final List<Row> rows = new ArrayList<>();

    void add(Row row) {
        rows.add(row);
    }

    List<Row> rows() {
        return List.copyOf(rows);
    }

    void print(PrintWriter out) {
        List<String[]> lines = new ArrayList<>();
        lines.add(HEADERS);
        rows.forEach(row -> lines.add(row.cells()));
        int[] widths = new int[HEADERS.length];
        for (String[] line : lines) {
            for (int column = 0; column < line.length; column++) {
                widths[column] = Math.max(widths[column], line[column].length());
            }
        }
        for (int index = 0; index < lines.size(); index++) {
            String[] line = lines.get(index);
            StringBuilder text = new StringBuilder();
            for (int column = 0; column < line.length; column++) {
                String cell = line[column];
                // Text columns left-aligned, numbers right-aligned.
                String format = column == 0 ? "%-" + widths[column] + "s" : "%" + widths[column] + "s";
                text.append(column == 0 ? "" : "  ").append(String.format(Locale.ROOT, format, cell));
            }
            out.println(text.toString().stripTrailing());
            if (index == 0) {
                out.println("-".repeat(text.toString().stripTrailing().length()));
            }
        }
        out.flush();
    }
}
