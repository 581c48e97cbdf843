package io.github.panamanccl.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

import picocli.CommandLine.IVersionProvider;

/** Version of this build (version.properties, written by the build) and the JDK it runs on. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        return new String[] {"panama-nccl " + version(), "JDK " + Runtime.version()};
    }

    static String version() {
        Properties properties = new Properties();
        try (InputStream in = VersionProvider.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                throw new IllegalStateException("version.properties missing from " + VersionProvider.class.getModule());
            }
            properties.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException("reading version.properties", e);
        }
        return properties.getProperty("version", "unknown");
    }
}
