package io.github.panamanccl.cli;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar redrawn in place with a carriage return, at most every {@code minNanosBetweenDraws}
 * (and always at 0% and 100%), so many small buckets do not flood the terminal.
 */
final class ProgressBar {
    private static final int WIDTH = 30;

    private final PrintWriter out;
    private final long minNanosBetweenDraws;
    private long lastDrawNanos;
    private int lastLength;
    private boolean open;

    ProgressBar(PrintWriter out, long minNanosBetweenDraws) {
        this.out = out;
        this.minNanosBetweenDraws = minNanosBetweenDraws;
    }

    /** Draws the bar for {@code done} of {@code total} bytes, labelled (e.g. "v1 bucketed  bucket 3/12"). */
    synchronized void update(String label, long done, long total) {
        long now = System.nanoTime();
        boolean finished = done >= total;
        if (open && !finished && done > 0 && now - lastDrawNanos < minNanosBetweenDraws) {
            return;
        }
        lastDrawNanos = now;
        String line = render(label, done, total);
        // Pad with spaces so a shorter line fully covers the previous one.
        out.print("\r" + line + " ".repeat(Math.max(0, lastLength - line.length())));
        lastLength = line.length();
        open = true;
        if (finished) {
            finish();
        } else {
            out.flush();
        }
    }

    /** Ends the current line, if one is drawn. */
    synchronized void finish() {
        if (open) {
            out.println();
            out.flush();
            open = false;
            lastLength = 0;
        }
    }

    static String render(String label, long done, long total) {
        double fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, (double) done / total));
        int filled = (int) Math.round(fraction * WIDTH);
        return String.format(Locale.ROOT, "[%s%s] %3d%%  %s / %s  %s",
                "#".repeat(filled), ".".repeat(WIDTH - filled), Math.round(fraction * 100),
                ByteSizeConverter.format(Math.min(done, Math.max(total, 0))), ByteSizeConverter.format(Math.max(total, 0)), label);
    }
}
