package io.github.panamanccl;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Computes, without loading anything, the ordered list of places where a native library is looked for.
 * Pure apart from listing directories (to expand {@code python3.*}), so tests can run it against a fake
 * directory layout: the well-known system locations are resolved under {@code systemRoot}.
 *
 * <p>A path named by the system property, or (when the property is unset) by the environment variable, is
 * authoritative: it is the only candidate, so a wrong path fails with its own reason instead of silently
 * loading another copy.
 *
 * <p>Otherwise the order is: NVIDIA pip wheels (in {@code VIRTUAL_ENV}, then
 * {@code CONDA_PREFIX} and {@code $CONDA_PREFIX/lib}, then the user's and the system's Python site
 * directories), {@code CUDA_HOME} and {@code CUDA_PATH} ({@code lib64}, {@code lib}),
 * {@code /usr/local/cuda/lib64}, the distribution's multiarch directory, each {@code LD_LIBRARY_PATH}
 * entry, and last the bare soname for the dynamic linker to resolve. A file reached twice is listed once,
 * under its first origin.
 */
final class LibraryLocator {
    /** One place to try. */
    sealed interface Candidate permits FileCandidate, SonameCandidate {
        /** Where the candidate came from, e.g. "environment variable PANAMANCCL_NCCL_PATH". */
        String origin();

        /** What is tried: a path or a soname. */
        String target();
    }

    /**
     * An absolute library file.
     *
     * @param explicit whether the user named this file (system property or environment variable); then it is the
     *                 only candidate
     */
    record FileCandidate(String origin, Path file, boolean explicit) implements Candidate {
        @Override
        public String target() {
            return file.toString();
        }
    }

    /** The bare soname, resolved by the dynamic linker (ld.so.cache, RUNPATH, LD_LIBRARY_PATH). */
    record SonameCandidate(String origin, String soname) implements Candidate {
        @Override
        public String target() {
            return soname;
        }
    }

    private static final Pattern PYTHON_DIRECTORY = Pattern.compile("python3\\.(\\d+)t?");

    private final Map<String, String> properties;
    private final Map<String, String> environment;
    private final Path systemRoot;
    private final Path userHome;
    private final String multiarchDirectory;

    /**
     * @param properties  system properties (only the library path properties are read)
     * @param environment environment variables
     * @param systemRoot  "/" in production; a temporary directory in tests
     * @param userHome    the user's home directory (for {@code ~/.local})
     * @param osArch      the {@code os.arch} value, to name the multiarch directory
     */
    LibraryLocator(Map<String, String> properties, Map<String, String> environment, Path systemRoot,
                   Path userHome, String osArch) {
        this.properties = Map.copyOf(properties);
        this.environment = Map.copyOf(environment);
        this.systemRoot = Objects.requireNonNull(systemRoot, "systemRoot");
        this.userHome = Objects.requireNonNull(userHome, "userHome");
        this.multiarchDirectory = multiarchTriplet(osArch);
    }

    /** The locator for this JVM: its system properties and environment, the real root and home. */
    static LibraryLocator forThisProcess() {
        Map<String, String> properties = new LinkedHashMap<>();
        for (NativeLibrary library : NativeLibrary.values()) {
            String value = System.getProperty(library.pathProperty());
            if (value != null) {
                properties.put(library.pathProperty(), value);
            }
        }
        return new LibraryLocator(properties, System.getenv(), Path.of("/"),
                Path.of(System.getProperty("user.home", "/")), System.getProperty("os.arch", ""));
    }

    /**
     * Every place to try for {@code library}, in order: only the explicitly named file when there is one,
     * otherwise the search ending with the bare soname.
     */
    List<Candidate> candidates(NativeLibrary library) {
        String property = nonBlank(properties.get(library.pathProperty()));
        if (property != null) {
            return List.of(explicit("system property " + library.pathProperty(), property));
        }
        String environmentPath = nonBlank(environment.get(library.pathEnvironmentVariable()));
        if (environmentPath != null) {
            return List.of(explicit("environment variable " + library.pathEnvironmentVariable(), environmentPath));
        }
        String soname = library.soname();
        Map<Path, FileCandidate> files = new LinkedHashMap<>();

        String virtualEnv = nonBlank(environment.get("VIRTUAL_ENV"));
        if (virtualEnv != null) {
            for (Path python : pythonDirectories(Path.of(virtualEnv).resolve("lib"))) {
                wheels(files, library, "VIRTUAL_ENV", python.resolve("site-packages"));
            }
        }
        String conda = nonBlank(environment.get("CONDA_PREFIX"));
        if (conda != null) {
            Path condaLib = Path.of(conda).resolve("lib");
            for (Path python : pythonDirectories(condaLib)) {
                wheels(files, library, "CONDA_PREFIX", python.resolve("site-packages"));
            }
            add(files, "CONDA_PREFIX", condaLib.resolve(soname));
        }
        for (Path python : pythonDirectories(userHome.resolve(".local/lib"))) {
            wheels(files, library, "user site-packages", python.resolve("site-packages"));
        }
        for (Path python : pythonDirectories(systemRoot.resolve("usr/local/lib"))) {
            wheels(files, library, "system site-packages", python.resolve("site-packages"));
            wheels(files, library, "system dist-packages", python.resolve("dist-packages"));
        }
        wheels(files, library, "system dist-packages", systemRoot.resolve("usr/lib/python3/dist-packages"));
        for (String variable : List.of("CUDA_HOME", "CUDA_PATH")) {
            String home = nonBlank(environment.get(variable));
            if (home != null) {
                add(files, variable, Path.of(home).resolve("lib64").resolve(soname));
                add(files, variable, Path.of(home).resolve("lib").resolve(soname));
            }
        }
        add(files, "CUDA toolkit default", systemRoot.resolve("usr/local/cuda/lib64").resolve(soname));
        if (multiarchDirectory != null) {
            add(files, "distribution library directory",
                    systemRoot.resolve("usr/lib").resolve(multiarchDirectory).resolve(soname));
        }
        String libraryPath = nonBlank(environment.get("LD_LIBRARY_PATH"));
        if (libraryPath != null) {
            for (String entry : libraryPath.split(":")) {
                if (!entry.isBlank()) {
                    add(files, "LD_LIBRARY_PATH", Path.of(entry).resolve(soname));
                }
            }
        }
        List<Candidate> candidates = new ArrayList<>(files.values());
        candidates.add(new SonameCandidate("dynamic linker search", soname));
        return List.copyOf(candidates);
    }

    /** The places NVIDIA's wheels put the library inside one Python packages directory. */
    private static void wheels(Map<Path, FileCandidate> files, NativeLibrary library, String origin,
                               Path packagesDirectory) {
        for (String wheelDirectory : library.wheelLibraryDirectories()) {
            add(files, "pip wheel in " + origin, packagesDirectory.resolve(wheelDirectory).resolve(library.soname()));
        }
    }

    /** The {@code python3.N} directories under {@code parent}, newest first; none when it cannot be listed. */
    private static List<Path> pythonDirectories(Path parent) {
        List<Path> found = new ArrayList<>();
        if (!Files.isDirectory(parent)) {
            return found;
        }
        try (DirectoryStream<Path> children = Files.newDirectoryStream(parent)) {
            for (Path child : children) {
                if (PYTHON_DIRECTORY.matcher(child.getFileName().toString()).matches() && Files.isDirectory(child)) {
                    found.add(child);
                }
            }
        } catch (IOException | SecurityException unreadable) {
            return List.of();
        }
        found.sort(Comparator.comparingInt(LibraryLocator::pythonMinorVersion).reversed()
                .thenComparing(Comparator.naturalOrder()));
        return found;
    }

    private static int pythonMinorVersion(Path pythonDirectory) {
        Matcher matcher = PYTHON_DIRECTORY.matcher(pythonDirectory.getFileName().toString());
        return matcher.matches() ? Integer.parseInt(matcher.group(1)) : -1;
    }

    private static FileCandidate explicit(String origin, String path) {
        return new FileCandidate(origin, Path.of(path).toAbsolutePath().normalize(), true);
    }

    private static void add(Map<Path, FileCandidate> files, String origin, Path file) {
        Path normalized = file.normalize();
        files.putIfAbsent(normalized, new FileCandidate(origin, normalized, false));
    }

    private static String nonBlank(String value) {
        return value == null || value.isBlank() ? null : value.strip();
    }

    /** Debian/Ubuntu multiarch directory name for the JVM's architecture, or null when unknown. */
    private static String multiarchTriplet(String osArch) {
        return switch (osArch) {
            case "amd64", "x86_64" -> "x86_64-linux-gnu";
            case "aarch64", "arm64" -> "aarch64-linux-gnu";
            case "ppc64le" -> "powerpc64le-linux-gnu";
            default -> null;
        };
    }
}
