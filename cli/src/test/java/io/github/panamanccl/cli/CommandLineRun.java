package io.github.panamanccl.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

/** Runs {@link Main#execute} in-process and captures what it printed. */
record CommandLineRun(int exitCode, String out, String err) {
    static CommandLineRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int exitCode = Main.execute(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new CommandLineRun(exitCode, out.toString(), err.toString());
    }

    List<String> errLines() {
        return err.lines().toList();
    }
}
