package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;

import org.junit.jupiter.api.Test;

class ProgressBarTest {
    @Test
    void rendersTheFractionDoneAsBarPercentAndBytes() {
        assertEquals("[..............................]   0%  0 B / 1.00 MiB  v1", ProgressBar.render("v1", 0, 1 << 20));
        assertEquals("[###############...............]  50%  512.00 KiB / 1.00 MiB  v1", ProgressBar.render("v1", 1 << 19, 1 << 20));
        assertEquals("[##############################] 100%  1.00 MiB / 1.00 MiB  v1", ProgressBar.render("v1", 1 << 20, 1 << 20));
    }

    @Test
    void redrawsInPlaceSkipsRedrawsThatComeTooSoonAndEndsTheLineWhenDone() {
        StringWriter text = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(text), Long.MAX_VALUE);

        bar.update("sync", 1, 4);
        bar.update("sync", 2, 4); // within the redraw interval: not drawn
        bar.update("sync", 4, 4); // completion is always drawn

        String out = text.toString();
        assertEquals(2, out.chars().filter(c -> c == '\r').count(), out);
        assertTrue(out.contains(" 25%") && !out.contains(" 50%") && out.contains("100%"), out);
        assertTrue(out.endsWith(System.lineSeparator()), out);
    }
}
