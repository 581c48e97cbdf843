package io.github.panamanccl.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import org.junit.jupiter.api.Test;

class ResultTableTest {
    @Test
    void alignsTheColumnsAndComputesGigabytesPerSecond() {
        ResultTable table = new ResultTable();
        table.add(new ResultTable.Row("bucketed", 1, 2_000_000_000L, 18867, 9, 9, 0.5, 2, 2));
        table.add(new ResultTable.Row("per-tensor", 3, 1_000_000_000L, 18867, 0, 18867, 2.0, 1, 2));
        StringWriter text = new StringWriter();

        table.print(new PrintWriter(text));

        List<String> lines = text.toString().lines().toList();
        assertEquals(4, lines.size(), text.toString());
        assertEquals("mode        version       bytes  tensors  buckets  collective calls  seconds  GB/s  verified", lines.get(0));
        assertEquals("-".repeat(lines.get(0).length()), lines.get(1));
        assertEquals("bucketed          1    1.86 GiB    18867        9                 9    0.500  4.00       2/2", lines.get(2));
        assertEquals("per-tensor        3  953.67 MiB    18867        -             18867    2.000  0.50       1/2", lines.get(3));
    }
}
