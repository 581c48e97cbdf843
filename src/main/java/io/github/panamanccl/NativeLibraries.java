package io.github.panamanccl;

import io.github.panamanccl.LibraryLocator.Candidate;
import io.github.panamanccl.LibraryLocator.FileCandidate;
import io.github.panamanccl.LibraryLocator.SonameCandidate;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The one place that loads native libraries. Each library is searched for once per JVM, in the order
 * {@link LibraryLocator} computes, and loaded with {@link System#load} from this class, so that the
 * generated bindings (which resolve symbols through {@link SymbolLookup#loaderLookup()}) see it.
 * A path the user names (system property, else environment variable) is the only place tried.
 * The outcome is cached: {@link #status} never throws, {@link #ensureLoaded} throws the same diagnosis
 * every time.
 */
public final class NativeLibraries {
    private static final AtomicReferenceArray<LoadOutcome> OUTCOMES =
            new AtomicReferenceArray<>(NativeLibrary.values().length);

    private NativeLibraries() {
    }

    /** Whether {@code library} is loaded, loading it first if this JVM has not tried yet. Never throws. */
    public static LibraryStatus status(NativeLibrary library) {
        return outcome(library).status();
    }

    /**
     * Loads {@code library} if this JVM has not tried yet.
     *
     * @throws LibraryUnavailableException when it cannot be loaded; the message lists every place tried
     */
    public static void ensureLoaded(NativeLibrary library) {
        LoadOutcome outcome = outcome(library);
        if (!outcome.status().available()) {
            throw outcome.newException(library);
        }
    }

    private static LoadOutcome outcome(NativeLibrary library) {
        LoadOutcome outcome = OUTCOMES.get(library.ordinal());
        return outcome != null ? outcome : loadOnce(library);
    }

    private static synchronized LoadOutcome loadOnce(NativeLibrary library) {
        LoadOutcome outcome = OUTCOMES.get(library.ordinal());
        if (outcome == null) {
            outcome = load(library, LibraryLocator.forThisProcess().candidates(library), SystemLoader.INSTANCE);
            OUTCOMES.set(library.ordinal(), outcome);
        }
        return outcome;
    }

    /** How a candidate is loaded; {@link SystemLoader} in production. */
    interface Loader {
        /** Loads the file; throws (typically UnsatisfiedLinkError) when it cannot. */
        void loadFile(Path file);

        /** Loads the library the dynamic linker finds for {@code soname}; returns the file it loaded. */
        Path loadBySoname(String soname, String probeSymbol);
    }

    /** The result of one search: the status and each failed attempt's exception. */
    record LoadOutcome(LibraryStatus status, List<Throwable> failures) {
        LibraryUnavailableException newException(NativeLibrary library) {
            LibraryUnavailableException exception = new LibraryUnavailableException(library, status.cause());
            failures.forEach(exception::addSuppressed);
            return exception;
        }
    }

    /**
     * Tries {@code candidates} in order until one loads; never throws. An explicitly named file is the only
     * candidate {@link LibraryLocator} gives, so its failure is final.
     */
    static LoadOutcome load(NativeLibrary library, List<Candidate> candidates, Loader loader) {
        List<String> attempts = new ArrayList<>();
        List<Throwable> failures = new ArrayList<>();
        for (Candidate candidate : candidates) {
            String place = candidate.origin() + ": " + candidate.target();
            try {
                Path loaded = switch (candidate) {
                    case FileCandidate file -> loadFile(file.file(), loader);
                    case SonameCandidate soname -> loader.loadBySoname(soname.soname(), library.probeSymbol());
                };
                if (loaded == null) {
                    attempts.add(place + ": absent");
                    continue;
                }
                attempts.add(place + ": loaded" + (loaded.toString().equals(candidate.target()) ? "" : " " + loaded));
                return new LoadOutcome(new LibraryStatus(true, Optional.of(loaded), attempts, ""), List.of());
            } catch (RuntimeException | LinkageError failure) {
                attempts.add(place + ": failed to load: " + failure.getMessage());
                failures.add(failure);
            }
        }
        return new LoadOutcome(new LibraryStatus(false, Optional.empty(), attempts,
                cause(library, attempts, explicitCandidate(candidates))), List.copyOf(failures));
    }

    private static Optional<FileCandidate> explicitCandidate(List<Candidate> candidates) {
        for (Candidate candidate : candidates) {
            if (candidate instanceof FileCandidate file && file.explicit()) {
                return Optional.of(file);
            }
        }
        return Optional.empty();
    }

    /** Loads an existing file; returns null when it is absent. */
    private static Path loadFile(Path file, Loader loader) {
        if (!Files.exists(file)) {
            return null;
        }
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("not a regular file");
        }
        loader.loadFile(file);
        return file;
    }

    private static String cause(NativeLibrary library, List<String> attempts, Optional<FileCandidate> explicit) {
        StringBuilder text = new StringBuilder()
                .append(library.displayName()).append(" (").append(library.soname())
                .append(") is not available. Tried, in order:");
        for (int i = 0; i < attempts.size(); i++) {
            text.append(System.lineSeparator()).append("  ").append(i + 1).append(". ").append(attempts.get(i));
        }
        text.append(System.lineSeparator());
        if (explicit.isPresent()) {
            // A named path is authoritative: say so, or the user wonders why the copy in their venv was ignored.
            text.append("The ").append(explicit.get().origin()).append(" names the file to load, so no other place")
                    .append(" was searched. Point it at a loadable ").append(library.soname())
                    .append(", or unset it to search the usual places (pip wheels, CUDA_HOME, /usr/local/cuda,")
                    .append(" LD_LIBRARY_PATH, the dynamic linker).");
        } else {
            text.append("Point panama-nccl at it with -D").append(library.pathProperty()).append("=/path/to/")
                    .append(library.soname()).append(" or the environment variable ")
                    .append(library.pathEnvironmentVariable()).append("=/path/to/").append(library.soname())
                    .append(", or add its directory to LD_LIBRARY_PATH.");
        }
        if (!NativeAccess.enabled()) {
            text.append(System.lineSeparator()).append("Native access is not enabled for ").append(NativeAccess.location())
                    .append(": run java with ").append(NativeAccess.flag()).append('.');
        }
        return text.toString();
    }

    /** Loads through the JVM, on behalf of this class's loader (the one the generated bindings use). */
    enum SystemLoader implements Loader {
        INSTANCE;

        @Override
        public void loadFile(Path file) {
            System.load(file.toString());
        }

        /**
         * Lets the dynamic linker resolve the soname, finds which file it mapped (via a symbol's address in
         * /proc/self/maps), then loads that file with System.load so the loader lookup sees it.
         */
        @Override
        @SuppressWarnings("restricted") // opening the library is this loader's job; only a symbol's address is read
        public Path loadBySoname(String soname, String probeSymbol) {
            SymbolLookup opened = SymbolLookup.libraryLookup(soname, Arena.global());
            MemorySegment symbol = opened.find(probeSymbol).orElseThrow(
                    () -> new UnsatisfiedLinkError(soname + " was opened but has no symbol " + probeSymbol));
            Path file = mappedFileContaining(symbol.address())
                    .orElseThrow(() -> new UnsatisfiedLinkError(
                            soname + " was opened but its file is not in /proc/self/maps"));
            System.load(file.toString());
            return file;
        }

        private static Optional<Path> mappedFileContaining(long address) {
            List<String> maps;
            try {
                maps = Files.readAllLines(Path.of("/proc/self/maps"));
            } catch (IOException unreadable) {
                return Optional.empty();
            }
            for (String line : maps) {
                // start-end perms offset dev inode [path]
                String[] fields = line.trim().split("\\s+", 6);
                if (fields.length < 6 || !fields[5].startsWith("/")) {
                    continue;
                }
                String[] range = fields[0].split("-");
                long start = Long.parseUnsignedLong(range[0], 16);
                long end = Long.parseUnsignedLong(range[1], 16);
                if (Long.compareUnsigned(address, start) >= 0 && Long.compareUnsigned(address, end) < 0) {
                    return Optional.of(Path.of(fields[5]));
                }
            }
            return Optional.empty();
        }
    }
}
