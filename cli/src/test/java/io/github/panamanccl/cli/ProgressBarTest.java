package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import org.junit.jupiter.api.Test;

class ProgressBarTest {
    private long now;

    @Test
    void rendersTheFractionDoneAsBarPercentAndBytes() {
        assertEquals("[..............................]   0%  0 B / 1.00 MiB  v1", ProgressBar.render("v1", 0, 1 << 20));
        assertEquals("[###############...............]  50%  512.00 KiB / 1.00 MiB  v1", ProgressBar.render("v1", 1 << 19, 1 << 20));
        assertEquals("[##############################] 100%  1.00 MiB / 1.00 MiB  v1", ProgressBar.render("v1", 1 << 20, 1 << 20));
    }

    @Test
    void onATerminalRedrawsInPlaceSkipsRedrawsThatComeTooSoonAndEndsTheLineWhenDone() {
        StringWriter text = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(text), true, ProgressBar.TERMINAL_REDRAW_NANOS, () -> now);

        bar.update("sync", 1, 4);
        now += ProgressBar.TERMINAL_REDRAW_NANOS - 1;
        bar.update("sync", 2, 4); // within the redraw interval: not drawn
        now += 1;
        bar.update("sync", 3, 4);
        bar.update("sync", 4, 4); // completion is always drawn

        String out = text.toString();
        assertEquals(3, out.chars().filter(c -> c == '\r').count(), out);
        assertTrue(out.contains(" 25%") && !out.contains(" 50%") && out.contains(" 75%") && out.contains("100%"), out);
        assertEquals(1, out.split(System.lineSeparator()).length, "one line, redrawn: " + out);
        assertTrue(out.endsWith(System.lineSeparator()), out);
    }

    @Test
    void elsewhereWritesAWholeLineAtMostEveryTwoSecondsAndTheLastOne() {
        StringWriter text = new StringWriter();
        ProgressBar bar = new ProgressBar(new PrintWriter(text), false, ProgressBar.LOG_LINE_NANOS, () -> now);

        for (int done = 0; done < 100; done++) {
            bar.update("v1 bucketed", done, 100);
            now += 50_000_000; // 50 ms per bucket: 5 s for all
        }
        bar.update("v1 bucketed", 100, 100);

        String out = text.toString();
        assertFalse(out.contains("\r"), out);
        List<String> lines = out.lines().toList();
        assertEquals(List.of("  0%", " 40%", " 80%", "100%"),
                lines.stream().map(line -> line.substring(33, 37)).toList(), out);
        lines.forEach(line -> assertTrue(line.endsWith("  v1 bucketed"), line));
    }

    @Test
    void theDemoGetsTheBarOnATerminalAndLinesElsewhere() {
        StringWriter text = new StringWriter();
        ProgressBar.forOutput(new PrintWriter(text), false).update("x", 1, 2);
        ProgressBar.forOutput(new PrintWriter(text), true).update("x", 1, 2);

        assertEquals(ProgressBar.render("x", 1, 2) + System.lineSeparator() + "\r" + ProgressBar.render("x", 1, 2),
                text.toString());
    }
}
