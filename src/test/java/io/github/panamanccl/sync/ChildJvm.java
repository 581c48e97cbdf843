package io.github.panamanccl.sync;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/** A JVM child process whose stdout lines are timestamped on arrival and kept in target/ for diagnosis. */
final class ChildJvm implements AutoCloseable {
    /** One stdout line and when this JVM read it. */
    record Line(String text, long nanos) {
        /** key=value fields; "message" runs to the end of the line. */
        Map<String, String> fields() {
            Map<String, String> fields = new HashMap<>();
            int message = text.indexOf(" message=");
            String head = message < 0 ? text : text.substring(0, message);
            if (message >= 0) {
                fields.put("message", text.substring(message + 9));
            }
            for (String token : head.split(" ")) {
                int eq = token.indexOf('=');
                if (eq > 0) {
                    fields.put(token.substring(0, eq), token.substring(eq + 1));
                }
            }
            return fields;
        }
    }

    private final String name;
    private final Process process;
    private final List<Line> lines = new ArrayList<>();
    private int consumed;

    private ChildJvm(String name, Process process, Path log) throws IOException {
        this.name = name;
        this.process = process;
        PrintWriter out = new PrintWriter(Files.newBufferedWriter(log, StandardCharsets.UTF_8), true);
        Thread.ofPlatform().daemon().name("child-" + name).start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8)); out) {
                String line;
                while ((line = in.readLine()) != null) {
                    out.println(line);
                    synchronized (this) {
                        lines.add(new Line(line, System.nanoTime()));
                        notifyAll();
                    }
                }
            } catch (IOException ignored) {
                // the process was killed
            }
        });
    }

    /** Starts {@code main} of a test class in a fresh JVM on this JVM's class path. */
    static ChildJvm start(String name, List<String> jvmOptions, Class<?> main, List<String> args) throws IOException {
        return start(name, jvmOptions, Map.of(), main, args);
    }

    /** The same, with {@code environment} added to this JVM's environment. */
    static ChildJvm start(String name, List<String> jvmOptions, Map<String, String> environment, Class<?> main,
                          List<String> args) throws IOException {
        Path dir = Path.of("target", "sync-processes");
        Files.createDirectories(dir);
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        command.add("-Xmx64m");
        command.add("-XX:TieredStopAtLevel=1");
        command.add("-XX:+UseSerialGC");
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectError(dir.resolve(name + ".stderr.txt").toFile());
        builder.environment().putAll(environment);
        Process process = builder.start();
        return new ChildJvm(name, process, dir.resolve(name + ".stdout.txt"));
    }

    /** {@code -Dname=value} for each of these system properties that this JVM has, so a child uses the same libraries. */
    static List<String> propertiesOf(String... names) {
        List<String> options = new ArrayList<>();
        for (String property : names) {
            String value = System.getProperty(property);
            if (value != null) {
                options.add("-D" + property + "=" + value);
            }
        }
        return options;
    }

    /** Writes {@code line} to the child's standard input. */
    void tell(String line) throws IOException {
        OutputStream in = process.getOutputStream();
        in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    /** The next line (after the last one returned) matching {@code test}; lines skipped stay readable by {@link #all}. */
    synchronized Line await(Predicate<String> test, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            for (int i = consumed; i < lines.size(); i++) {
                if (test.test(lines.get(i).text())) {
                    consumed = i + 1;
                    return lines.get(i);
                }
            }
            long remaining = deadline - System.nanoTime();
            if (remaining <= 0) {
                throw new AssertionError(name + ": no matching line within " + timeout + "; last lines "
                        + lines.subList(Math.max(0, lines.size() - 3), lines.size())
                        + " (see target/sync-processes/" + name + ".*.txt)");
            }
            TimeUnit.NANOSECONDS.timedWait(this, remaining);
        }
    }

    Line await(String prefix, Duration timeout) throws InterruptedException {
        return await(text -> text.startsWith(prefix), timeout);
    }

    /** The first line so far starting with {@code prefix}, wherever the cursor of {@link #await} is. */
    synchronized Line first(String prefix) {
        return lines.stream().filter(l -> l.text().startsWith(prefix)).findFirst()
                .orElseThrow(() -> new AssertionError(name + ": no line starting with " + prefix));
    }

    synchronized List<Line> all() {
        return List.copyOf(lines);
    }

    long pid() {
        return process.pid();
    }

    /** SIGKILL, then waits for the exit. */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    boolean isAlive() {
        return process.isAlive();
    }

    int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError(name + " did not exit within " + timeout);
        }
        return process.exitValue();
    }

    @Override
    public String toString() {
        return name;
    }

    /** {@link #kill()}; interrupted while waiting for the exit, it keeps the interrupt (the SIGKILL was sent). */
    @Override
    public void close() {
        try {
            kill();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
