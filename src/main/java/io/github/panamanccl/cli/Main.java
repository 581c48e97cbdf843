package io.github.panamanccl.cli;

import io.github.panamanccl.SystemReport;

/** Entry point of the panama-nccl command line. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        String command = args.length == 0 ? "info" : args[0];
        if (command.equals("info")) {
            System.out.print(SystemReport.text());
            return;
        }
        System.err.println("unknown command: " + command + System.lineSeparator() + "usage: panama-nccl info");
        System.exit(2);
    }
}
