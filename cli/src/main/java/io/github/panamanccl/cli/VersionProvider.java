package io.github.panamanccl.cli;

import picocli.CommandLine.IVersionProvider;

/** Version of this build (from the jar's module descriptor when packaged) and the JDK it runs on. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String version = Main.class.getModule().getDescriptor() == null
                ? "development build"
                : Main.class.getModule().getDescriptor().rawVersion().orElse("development build");
        return new String[] {"panama-nccl " + version, "JDK " + Runtime.version()};
    }
}
