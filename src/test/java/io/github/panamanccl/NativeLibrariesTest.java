package io.github.panamanccl;

import io.github.panamanccl.LibraryLocator.Candidate;
import io.github.panamanccl.NativeLibraries.LoadOutcome;
import io.github.panamanccl.testing.FakeNative;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Loading against fake directory layouts: a named path is authoritative, otherwise the first loadable file wins;
 * failures explain themselves.
 */
class NativeLibrariesTest {
    /** Files load for real (System.load); the soname step fails the same way on every machine. */
    private static final NativeLibraries.Loader FILES_ONLY = new NativeLibraries.Loader() {
        @Override
        public void loadFile(Path file) {
            NativeLibraries.SystemLoader.INSTANCE.loadFile(file);
        }

        @Override
        public Path loadBySoname(String soname, String probeSymbol) {
            throw new UnsatisfiedLinkError("test: " + soname + " is not resolvable");
        }
    };

    private static final int E_MACHINE_OFFSET = 18;
    private static final short EM_SPARCV9 = 43;

    @TempDir
    Path temp;
    private final List<Path> links = new ArrayList<>();

    private List<Candidate> candidates(Map<String, String> properties, Map<String, String> environment)
            throws IOException {
        Path root = Files.createDirectories(temp.resolve("root"));
        return new LibraryLocator(properties, environment, root, temp.resolve("home"), "amd64")
                .candidates(NativeLibrary.NCCL);
    }

    @Test
    void everyPlaceTriedIsListedWithWhyItFailedAndHowToPointAtTheLibrary() throws IOException {
        Files.createDirectories(temp.resolve("ld"));
        Path notElf = unloadable(temp.resolve("ld/libnccl.so.2"));
        Files.createDirectories(temp.resolve("cudahome/lib64"));
        Path alsoNotElf = unloadable(temp.resolve("cudahome/lib64/libnccl.so.2"));
        Files.createDirectories(temp.resolve("cudahome/lib/libnccl.so.2")); // a directory, not a file

        LoadOutcome outcome = NativeLibraries.load(NativeLibrary.NCCL,
                candidates(Map.of(), Map.of("CUDA_HOME", temp.resolve("cudahome").toString(),
                        "LD_LIBRARY_PATH", temp.resolve("ld").toString())),
                FILES_ONLY);

        LibraryStatus status = outcome.status();
        assertFalse(status.available());
        assertTrue(status.path().isEmpty());
        List<String> attempts = status.attempts();
        assertTrue(attempts.getFirst().endsWith("/usr/lib/python3/dist-packages/nvidia/nccl/lib/libnccl.so.2: absent"),
                attempts.getFirst());
        assertTrue(attempts.get(1).startsWith("CUDA_HOME: " + alsoNotElf + ": failed to load: "), attempts.get(1));
        assertEquals("CUDA_HOME: " + temp.resolve("cudahome/lib/libnccl.so.2") + ": failed to load: not a regular file",
                attempts.get(2));
        assertTrue(attempts.get(5).startsWith("LD_LIBRARY_PATH: " + notElf + ": failed to load: "), attempts.get(5));
        assertEquals("dynamic linker search: libnccl.so.2: failed to load: test: libnccl.so.2 is not resolvable",
                attempts.getLast());
        assertEquals(7, attempts.size(), attempts.toString());

        String cause = status.cause();
        for (String attempt : attempts) {
            assertTrue(cause.contains(attempt), "cause lacks " + attempt + ":\n" + cause);
        }
        assertTrue(cause.startsWith("NCCL (libnccl.so.2) is not available."), cause);
        assertTrue(cause.contains("-Dpanamanccl.nccl.path=") && cause.contains("PANAMANCCL_NCCL_PATH="), cause);

        LibraryUnavailableException exception = outcome.newException(NativeLibrary.NCCL);
        assertEquals(cause, exception.getMessage());
        assertEquals(NativeLibrary.NCCL, exception.library());
        // the two unloadable files, the directory, and the soname
        assertEquals(4, exception.getSuppressed().length);
        assertTrue(exception.getSuppressed()[0] instanceof UnsatisfiedLinkError, exception.getSuppressed()[0].toString());
    }

    @Test
    void anUnloadableExplicitPathFailsWithoutFallingThroughToALoadableCopy() throws IOException {
        Path wheel = loadableWheel();
        Files.createDirectories(temp.resolve("explicit"));
        Path notElf = unloadable(temp.resolve("explicit/libnccl.so.2"));

        LoadOutcome outcome = NativeLibraries.load(NativeLibrary.NCCL,
                candidates(Map.of("panamanccl.nccl.path", notElf.toString()),
                        Map.of("VIRTUAL_ENV", temp.resolve("venv").toString())),
                FILES_ONLY);

        LibraryStatus status = outcome.status();
        assertFalse(status.available(), "loaded " + status.path() + " although " + notElf + " was named");
        assertEquals(1, status.attempts().size(), status.attempts().toString());
        assertTrue(status.attempts().getFirst().startsWith(
                "system property panamanccl.nccl.path: " + notElf + ": failed to load: "), status.attempts().toString());
        assertFalse(status.cause().contains(wheel.toString()), status.cause());
        assertTrue(status.cause().contains("The system property panamanccl.nccl.path names the file to load, so no "
                + "other place was searched. Point it at a loadable libnccl.so.2, or unset it"), status.cause());
        assertEquals(1, outcome.failures().size());
    }

    @Test
    void aMissingExplicitPathFailsEvenWhenACopyIsInstalled() throws IOException {
        loadableWheel();
        Path missing = temp.resolve("missing/libnccl.so.2");

        LoadOutcome outcome = NativeLibraries.load(NativeLibrary.NCCL,
                candidates(Map.of(), Map.of("PANAMANCCL_NCCL_PATH", missing.toString(),
                        "VIRTUAL_ENV", temp.resolve("venv").toString())),
                FILES_ONLY);

        LibraryStatus status = outcome.status();
        assertFalse(status.available());
        assertEquals(List.of("environment variable PANAMANCCL_NCCL_PATH: " + missing + ": absent"), status.attempts());
        assertTrue(status.cause().contains("The environment variable PANAMANCCL_NCCL_PATH names the file to load"),
                status.cause());
        assertTrue(outcome.failures().isEmpty());
    }

    @Test
    void aLoadableExplicitPathIsLoaded() throws IOException {
        LoadOutcome outcome = NativeLibraries.load(NativeLibrary.NCCL,
                candidates(Map.of("panamanccl.nccl.path", FakeNative.ncclLibrary().toString()), Map.of()),
                FILES_ONLY);

        assertEquals(List.of("system property panamanccl.nccl.path: " + FakeNative.ncclLibrary() + ": loaded"),
                outcome.status().attempts());
        assertEquals(FakeNative.ncclLibrary(), outcome.status().path().orElseThrow());
    }

    /** A pip wheel layout under temp/venv whose libnccl.so.2 is the (loadable) fake. */
    private Path loadableWheel() throws IOException {
        Path site = temp.resolve("venv/lib/python3.12/site-packages/nvidia/nccl/lib");
        Files.createDirectories(site);
        Path link = Files.createSymbolicLink(site.resolve("libnccl.so.2"), FakeNative.ncclLibrary());
        links.add(link);
        return link;
    }

    /** The links point out of the temporary directory, which JUnit would warn about when it deletes them. */
    @AfterEach
    void deleteLinks() throws IOException {
        for (Path link : links) {
            Files.delete(link);
        }
    }

    /**
     * A copy of the fake libnccl built, its ELF header says, for another machine (SPARC V9), so that it cannot be
     * loaded. (A file that is no ELF at all fails to load too, but first makes the JVM warn about stack guards.)
     */
    private static Path unloadable(Path file) throws IOException {
        byte[] elf = Files.readAllBytes(FakeNative.ncclLibrary());
        ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN).putShort(E_MACHINE_OFFSET, EM_SPARCV9);
        return Files.write(file, elf);
    }

    @Test
    void theFirstLoadableFileWinsAndLaterPlacesAreNotTried() throws IOException {
        Path wheel = loadableWheel();
        Files.createDirectories(temp.resolve("cudahome/lib64"));
        Files.writeString(temp.resolve("cudahome/lib64/libnccl.so.2"), "never reached");

        LoadOutcome outcome = NativeLibraries.load(NativeLibrary.NCCL,
                candidates(Map.of(), Map.of(
                        "VIRTUAL_ENV", temp.resolve("venv").toString(),
                        "CUDA_HOME", temp.resolve("cudahome").toString())),
                FILES_ONLY);

        LibraryStatus status = outcome.status();
        assertTrue(status.available(), status.toString());
        assertEquals(wheel, status.path().orElseThrow());
        assertEquals(List.of("pip wheel in VIRTUAL_ENV: " + wheel + ": loaded"), status.attempts());
        assertEquals("", status.cause());
        assertTrue(outcome.failures().isEmpty());
    }

    @Test
    void aSonameIsResolvedByTheDynamicLinkerToTheFileItMapped() throws IOException {
        Path libc = NativeLibraries.SystemLoader.INSTANCE.loadBySoname("libc.so.6", "getpid");

        assertTrue(libc.isAbsolute() && Files.isRegularFile(libc), libc.toString());
        assertTrue(libc.getFileName().toString().startsWith("libc"), libc.toString());
    }

    @Test
    void anUnresolvableSonameFailsWithTheLinkersReason() {
        RuntimeException failure = assertThrows(IllegalArgumentException.class,
                () -> NativeLibraries.SystemLoader.INSTANCE.loadBySoname("libpanamanccl-absent.so.7", "nothing"));

        assertTrue(failure.getMessage().contains("libpanamanccl-absent.so.7"), failure.getMessage());
    }

    @Test
    void statusIsLoadedOnceAndNeverThrows() {
        LibraryStatus first = NativeLibraries.status(NativeLibrary.NCCL);

        assertSame(first, NativeLibraries.status(NativeLibrary.NCCL));
        assertTrue(first.available(), first.cause());
        assertTrue(FakeNative.ncclIsFake(), "tests run against the fake NCCL: " + first);
        assertTrue(first.attempts().getFirst().startsWith("system property panamanccl.nccl.path: "), first.toString());
    }

    @Test
    void theStatusRecordRejectsAnAvailableLibraryWithoutPath() {
        assertThrows(IllegalArgumentException.class,
                () -> new LibraryStatus(true, java.util.Optional.empty(), List.of(), ""));
    }
}
