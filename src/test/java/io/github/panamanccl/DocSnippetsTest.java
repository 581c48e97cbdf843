package io.github.panamanccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.core.JsonFactory;

import io.github.panamanccl.bucket.BucketPlan;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

import org.junit.jupiter.api.Test;

/**
 * Every Java block of README.md and every example in the library's javadoc ({@code <pre>{@code ...}</pre>} and
 * {@code {@snippet ...}}) compiles against the library as a user sees it: its module on the module path, only the
 * exported packages readable. A snippet is compiled as a whole file when it has imports or a top-level type, as
 * the members of a class when it starts with a method or field, and otherwise as the body of a method; so a
 * snippet that uses variables it does not declare must be written as a method that takes them as parameters.
 */
class DocSnippetsTest {
    private static final Pattern README_BLOCK = Pattern.compile("(?m)^```java\\n(.*?)^```", Pattern.DOTALL);
    private static final Pattern JAVADOC = Pattern.compile("/\\*\\*(.*?)\\*/", Pattern.DOTALL);
    private static final Pattern PRE_CODE = Pattern.compile("<pre>\\{@code\\n(.*?)}</pre>", Pattern.DOTALL);
    private static final Pattern SNIPPET = Pattern.compile("\\{@snippet([^:}]*):\\n");
    private static final Pattern TOP_LEVEL = Pattern.compile(
            "(?m)^(import|package)\\s|^(public\\s+|final\\s+|abstract\\s+|sealed\\s+)*(class|interface|record|enum)\\s+\\w+");
    private static final Pattern MEMBER_START = Pattern.compile(
            "^((public|protected|private|static|final|abstract|synchronized|default|void)\\b|[\\w.<>\\[\\], ?]+\\s+\\w+\\s*\\()");
    private static final Pattern PUBLIC_TYPE = Pattern.compile(
            "(?m)^public\\s+(?:final\\s+|abstract\\s+|sealed\\s+)*(?:class|interface|record|enum)\\s+(\\w+)");
    private static final Set<String> STATEMENT_WORDS = Set.of("return", "throw", "new", "if", "for", "while", "do",
            "try", "switch", "synchronized", "assert", "yield");
    private static final List<String> DEFAULT_IMPORTS = List.of("io.github.panamanccl.*", "io.github.panamanccl.bucket.*",
            "io.github.panamanccl.sync.*", "java.io.*", "java.lang.foreign.*", "java.net.*", "java.nio.file.*",
            "java.time.*", "java.util.*", "java.util.concurrent.*", "java.util.function.*");

    enum Form { FILE, MEMBERS, STATEMENTS }

    /** One snippet: where it is (file, first line) and its code. */
    record Snippet(String file, int line, String code) {
        Form form() {
            if (TOP_LEVEL.matcher(code).find()) {
                return Form.FILE;
            }
            String first = code.lines().map(String::strip)
                    .filter(l -> !l.isEmpty() && !l.startsWith("//") && !l.startsWith("/*") && !l.startsWith("*"))
                    .findFirst().orElse("");
            String word = first.split("[^\\w]", 2)[0];
            return MEMBER_START.matcher(first).find() && !STATEMENT_WORDS.contains(word) ? Form.MEMBERS : Form.STATEMENTS;
        }

        /** The compilable source, in package {@code snippetN}, and how many lines precede the snippet's code in it. */
        Source source(int n) {
            String pkg = "package snippet" + n + ";\n";
            String imports = DEFAULT_IMPORTS.stream().map(i -> "import " + i + ";\n").reduce("", String::concat);
            return switch (form()) {
                case FILE -> code.contains("import ") ? new Source(pkg + code, 1) : new Source(pkg + imports + code, 1 + DEFAULT_IMPORTS.size());
                case MEMBERS -> new Source(pkg + imports + "class Snippet {\n" + code + "}\n", 2 + DEFAULT_IMPORTS.size());
                case STATEMENTS -> new Source(pkg + imports + "class Snippet {\nvoid run() throws Exception {\n" + code
                        + "}\n}\n", 3 + DEFAULT_IMPORTS.size());
            };
        }
    }

    record Source(String text, int linesBefore) {
    }

    @Test
    void everyReadmeAndJavadocSnippetCompilesAgainstTheLibrary() throws IOException {
        List<Snippet> readme = readmeSnippets(Path.of(System.getProperty("panamanccl.test.readme")));
        List<Snippet> javadoc = javadocSnippets(Path.of(System.getProperty("panamanccl.test.sources")));
        assertTrue(readme.size() >= 2, "README.md: the quick start and the NCCL sketch, found " + readme);
        assertTrue(readme.stream().anyMatch(s -> s.form() == Form.FILE && s.code().contains("class QuickStart")),
                "the quick start is a whole program: " + readme);
        assertTrue(javadoc.size() >= 2, "WeightSender and WeightReceiver show examples, found " + javadoc);

        List<Snippet> all = new ArrayList<>(readme);
        all.addAll(javadoc);
        List<String> errors = compile(all);

        if (!errors.isEmpty()) {
            fail(errors.size() + " snippet error(s) (a snippet using variables it does not declare must be a method"
                    + " that takes them as parameters):\n" + String.join("\n", errors));
        }
    }

    @Test
    void aSnippetThatDoesNotCompileIsReportedAtItsFileAndLine() {
        Snippet unknownMethod = new Snippet("Example.java", 40, "BucketPlan plan = null;\nplan.noSuchMethod();\n");
        Snippet undeclared = new Snippet("README.md", 7, "void send() {\n    WeightSender.builder().receivers(count);\n}\n");

        List<String> errors = compile(List.of(unknownMethod, undeclared));

        assertEquals(Form.STATEMENTS, unknownMethod.form());
        assertEquals(Form.MEMBERS, undeclared.form());
        assertEquals(2, errors.size(), errors.toString());
        assertTrue(errors.get(0).startsWith("Example.java:41: ") && errors.get(0).contains("noSuchMethod"), errors.get(0));
        assertTrue(errors.get(1).startsWith("README.md:8: ") && errors.get(1).contains("count"), errors.get(1));
    }

    @Test
    void internalPackagesAreNotReadable() {
        Snippet internal = new Snippet("Example.java", 1, "var api = io.github.panamanccl.internal.cuda.CudaRuntimeApi.class;\n");

        List<String> errors = compile(List.of(internal));

        assertEquals(1, errors.size(), errors.toString());
        assertTrue(errors.getFirst().contains("not visible") || errors.getFirst().contains("does not export"), errors.getFirst());
    }

    static List<Snippet> readmeSnippets(Path readme) throws IOException {
        String text = Files.readString(readme);
        List<Snippet> snippets = new ArrayList<>();
        Matcher block = README_BLOCK.matcher(text);
        while (block.find()) {
            snippets.add(new Snippet(readme.getFileName().toString(), lineOf(text, block.start(1)), block.group(1)));
        }
        return snippets;
    }

    static List<Snippet> javadocSnippets(Path sources) throws IOException {
        List<Snippet> snippets = new ArrayList<>();
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).sorted().toList()) {
                String text = Files.readString(file);
                String name = sources.relativize(file).toString();
                Matcher comment = JAVADOC.matcher(text);
                while (comment.find()) {
                    String body = comment.group(1);
                    int offset = comment.start(1);
                    Matcher pre = PRE_CODE.matcher(body);
                    while (pre.find()) {
                        snippets.add(new Snippet(name, lineOf(text, offset + pre.start(1)), uncomment(pre.group(1))));
                    }
                    Matcher snippet = SNIPPET.matcher(body);
                    while (snippet.find()) {
                        String attributes = snippet.group(1);
                        if (attributes.contains("lang=") && !attributes.contains("lang=java")) {
                            continue;
                        }
                        int end = closingBrace(body, snippet.start());
                        snippets.add(new Snippet(name, lineOf(text, offset + snippet.end()),
                                uncomment(body.substring(snippet.end(), end))));
                    }
                }
            }
        }
        return snippets;
    }

    /** The index of the brace that closes the inline tag opened at {@code open} (javadoc requires them balanced). */
    private static int closingBrace(String text, int open) {
        int depth = 0;
        for (int i = open; i < text.length(); i++) {
            if (text.charAt(i) == '{') {
                depth++;
            } else if (text.charAt(i) == '}' && --depth == 0) {
                return i;
            }
        }
        throw new IllegalStateException("unbalanced {@snippet at " + open);
    }

    /** The code without each line's leading {@code " * "}. */
    private static String uncomment(String lines) {
        StringBuilder code = new StringBuilder();
        lines.lines().forEach(line -> code.append(line.replaceFirst("^\\s*\\* ?", "")).append('\n'));
        return code.toString();
    }

    private static int lineOf(String text, int index) {
        return (int) text.substring(0, index).chars().filter(c -> c == '\n').count() + 1;
    }

    /** Compiles the snippets together; returns each error as {@code file:line: message}. */
    static List<String> compile(List<Snippet> snippets) {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        List<JavaFileObject> units = new ArrayList<>();
        List<Source> sources = new ArrayList<>();
        for (int n = 0; n < snippets.size(); n++) {
            Source source = snippets.get(n).source(n);
            sources.add(source);
            units.add(new InMemorySource(n, source.text()));
        }
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT, null)) {
            Path output = Files.createTempDirectory("snippets");
            // An explicit (empty) class path: javac would otherwise take this JVM's, where every package is readable.
            List<String> options = List.of("--module-path", locationOf(BucketPlan.class) + File.pathSeparator
                    + locationOf(JsonFactory.class), "--add-modules", "io.github.panamanccl", "--class-path",
                    output.toString(), "-proc:none", "-d", output.toString());
            javac.getTask(null, files, diagnostics, options, null, units).call();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> errors = new ArrayList<>();
        for (Diagnostic<? extends JavaFileObject> diagnostic : diagnostics.getDiagnostics()) {
            if (diagnostic.getKind() != Diagnostic.Kind.ERROR) {
                continue;
            }
            if (!(diagnostic.getSource() instanceof InMemorySource unit)) {
                errors.add(diagnostic.getMessage(Locale.ROOT));
                continue;
            }
            Snippet snippet = snippets.get(unit.index);
            long line = snippet.line() + diagnostic.getLineNumber() - 1 - sources.get(unit.index).linesBefore();
            errors.add(snippet.file() + ":" + line + ": " + String.join("; ", diagnostic.getMessage(Locale.ROOT).lines()
                    .map(String::strip).toList()) + " [compiled as " + snippet.form().name().toLowerCase(Locale.ROOT) + "]");
        }
        return errors;
    }

    private static String locationOf(Class<?> type) {
        try {
            return Path.of(type.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final class InMemorySource extends SimpleJavaFileObject {
        final int index;
        private final String text;

        InMemorySource(int index, String text) {
            super(URI.create("string:///snippet" + index + "/" + className(text) + ".java"), JavaFileObject.Kind.SOURCE);
            this.index = index;
            this.text = text;
        }

        /** The public top-level type's name, which javac wants as the file's name; else Snippet. */
        private static String className(String text) {
            Matcher type = PUBLIC_TYPE.matcher(text);
            return type.find() ? type.group(1) : "Snippet";
        }

        @Override
        public CharSequence getCharContent(boolean ignoreEncodingErrors) {
            return text;
        }
    }
}
