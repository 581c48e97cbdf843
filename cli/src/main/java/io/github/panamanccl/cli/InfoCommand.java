package io.github.panamanccl.cli;

import io.github.panamanccl.SystemReport;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code info}: the JDK, the native libraries found (or every place tried), and the CUDA devices. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Reports the JDK, where libcudart and libnccl were found (or why not) and the CUDA devices.")
final class InfoCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().getOut().print(SystemReport.text());
        spec.commandLine().getOut().flush();
    }
}
