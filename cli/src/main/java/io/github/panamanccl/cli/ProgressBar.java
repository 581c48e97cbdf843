package io.github.panamanccl.cli;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Progress of one sync on the demo's output. On a terminal: a bar redrawn in place with a carriage return, at most
 * every 100 ms. Elsewhere (a file, a pipe, a CI log): a whole line at most every 2 s, so a log gets a few lines, not
 * frames. Both always draw the first update and 100%, so many small buckets do not flood the output.
 */
final class ProgressBar {
    static final long TERMINAL_REDRAW_NANOS = 100_000_000;
    static final long LOG_LINE_NANOS = 2_000_000_000L;
    private static final int WIDTH = 30;

    private final PrintWriter out;
    private final boolean inPlace;
    private final long minNanosBetweenDraws;
    private final LongSupplier nanoClock;
    private long lastDrawNanos;
    private boolean drawn;
    /** Length of the line drawn in place and not yet ended; 0 when none is open. */
    private int openLength;

    ProgressBar(PrintWriter out, boolean inPlace, long minNanosBetweenDraws, LongSupplier nanoClock) {
        this.out = out;
        this.inPlace = inPlace;
        this.minNanosBetweenDraws = minNanosBetweenDraws;
        this.nanoClock = nanoClock;
    }

    /** A bar redrawn in place (terminal) or periodic lines (anything else). */
    static ProgressBar forOutput(PrintWriter out, boolean terminal) {
        return new ProgressBar(out, terminal, terminal ? TERMINAL_REDRAW_NANOS : LOG_LINE_NANOS, System::nanoTime);
    }

    /** Shows {@code done} of {@code total} bytes, labelled (e.g. "v1 bucketed"), unless the last showing is too recent. */
    synchronized void update(String label, long done, long total) {
        long now = nanoClock.getAsLong();
        boolean finished = done >= total;
        if (drawn && !finished && now - lastDrawNanos < minNanosBetweenDraws) {
            return;
        }
        lastDrawNanos = now;
        drawn = true;
        String line = render(label, done, total);
        if (!inPlace) {
            out.println(line);
        } else if (finished) {
            out.println("\r" + padded(line));
            openLength = 0;
        } else {
            out.print("\r" + padded(line));
            openLength = line.length();
        }
        out.flush();
    }

    /** The line, with spaces so that it fully covers the one drawn in place before it. */
    private String padded(String line) {
        return line + " ".repeat(Math.max(0, openLength - line.length()));
    }

    static String render(String label, long done, long total) {
        double fraction = total <= 0 ? 1 : Math.min(1, Math.max(0, (double) done / total));
        int filled = (int) Math.round(fraction * WIDTH);
        return String.format(Locale.ROOT, "[%s%s] %3d%%  %s / %s  %s",
                "#".repeat(filled), ".".repeat(WIDTH - filled), Math.round(fraction * 100),
                ByteSizeConverter.format(Math.min(done, Math.max(total, 0))), ByteSizeConverter.format(Math.max(total, 0)), label);
    }
}
