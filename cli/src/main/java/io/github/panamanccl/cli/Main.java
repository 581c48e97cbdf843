package io.github.panamanccl.cli;

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

    public static void main(String[] args) {
        System.exit(execute(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line and returns its exit code: 0 done, 1 failed, 2 bad arguments. */
    public static int execute(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine commandLine = new CommandLine(new Main());
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
