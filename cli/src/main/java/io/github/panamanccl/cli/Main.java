package io.github.panamanccl.cli;

import java.io.Console;
import java.io.PrintWriter;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** Entry point of the panama-nccl command line: {@code demo} (weight sync of a synthetic model) and {@code info}. */
@Command(name = "panama-nccl",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Packed, bucketed weight broadcast over NCCL or a host transport, through Panama FFM.",
        subcommands = {DemoCommand.class, InfoCommand.class})
public final class Main implements Runnable {
    @Spec
    CommandSpec spec;

    private final boolean outputIsTerminal;

    private Main(boolean outputIsTerminal) {
        this.outputIsTerminal = outputIsTerminal;
    }

    public static void main(String[] args) {
        Console console = System.console();
        System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true),
                console != null && console.isTerminal()));
    }

    /** {@link #execute(String[], PrintWriter, PrintWriter, boolean)} for output that is not a terminal. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        return execute(args, out, err, false);
    }

    /**
     * Runs the command line and returns its exit code: 0 done, 1 failed, 2 bad arguments.
     *
     * @param outputIsTerminal draw progress as a bar redrawn in place rather than as periodic lines
     */
    static int execute(String[] args, PrintWriter out, PrintWriter err, boolean outputIsTerminal) {
        CommandLine commandLine = new CommandLine(new Main(outputIsTerminal));
        commandLine.setCaseInsensitiveEnumValuesAllowed(true);
        commandLine.setOut(out);
        commandLine.setErr(err);
        commandLine.setParameterExceptionHandler(Main::reportBadArguments);
        commandLine.setExecutionExceptionHandler((failure, failed, parsed) -> {
            failed.getErr().println("error: " + describe(failure));
            return CommandLine.ExitCode.SOFTWARE;
        });
        return commandLine.execute(args);
    }

    /** Whether the output is a terminal (the demo then redraws its progress bar in place). */
    boolean outputIsTerminal() {
        return outputIsTerminal;
    }

    @Override
    public void run() {
        throw new ParameterException(spec.commandLine(), "missing command: choose one of " + spec.subcommands().keySet());
    }

    /** One line naming what is wrong, then the usage of the command that was being parsed; exit code 2. */
    private static int reportBadArguments(ParameterException problem, String[] args) {
        CommandLine failed = problem.getCommandLine();
        PrintWriter err = failed.getErr();
        err.println("error: " + problem.getMessage().lines().findFirst().orElse("bad arguments"));
        failed.usage(err);
        return CommandLine.ExitCode.USAGE;
    }

    private static String describe(Throwable failure) {
        String message = failure.getMessage();
        return message == null || message.isBlank() ? failure.getClass().getSimpleName() : message;
    }
}
