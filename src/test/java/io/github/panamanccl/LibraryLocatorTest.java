package io.github.panamanccl;

import io.github.panamanccl.LibraryLocator.Candidate;
import io.github.panamanccl.LibraryLocator.FileCandidate;
import io.github.panamanccl.LibraryLocator.SonameCandidate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The search order, computed against fake directory layouts under a temporary root. */
class LibraryLocatorTest {
    @TempDir
    Path temp;

    private Path root;
    private Path home;

    private void layout() throws IOException {
        root = Files.createDirectories(temp.resolve("root"));
        home = Files.createDirectories(temp.resolve("home"));
        Files.createDirectories(root.resolve("usr/local/lib/python3.9/site-packages"));
        Files.createDirectories(root.resolve("usr/local/lib/python3.12/dist-packages"));
        Files.createDirectories(root.resolve("usr/local/lib/not-python"));
        Files.createDirectories(home.resolve(".local/lib/python3.11/site-packages"));
        Files.createDirectories(temp.resolve("venv/lib/python3.13/site-packages"));
        Files.createDirectories(temp.resolve("conda/lib/python3.10/site-packages"));
    }

    private List<String> describe(List<Candidate> candidates) {
        return candidates.stream().map(c -> c.origin() + " -> " + shorten(c.target())).toList();
    }

    private String shorten(String target) {
        return target.replace(temp.toString(), "$T");
    }

    @Test
    void ncclIsSearchedInTheDocumentedOrder() throws IOException {
        layout();
        Map<String, String> properties = Map.of("panamanccl.cudart.path", temp.resolve("other/libcudart.so.13").toString());
        Map<String, String> environment = Map.of(
                "PANAMANCCL_CUDART_PATH", temp.resolve("other/libcudart.so.13").toString(),
                "VIRTUAL_ENV", temp.resolve("venv").toString(),
                "CONDA_PREFIX", temp.resolve("conda").toString(),
                "CUDA_HOME", temp.resolve("cudahome").toString(),
                "CUDA_PATH", temp.resolve("cudapath").toString(),
                "LD_LIBRARY_PATH", temp.resolve("ld1") + "::" + temp.resolve("ld2"));
        LibraryLocator locator = new LibraryLocator(properties, environment, root, home, "amd64");

        // the CUDA runtime's explicit path says nothing about NCCL
        assertEquals(List.of(
                "pip wheel in VIRTUAL_ENV -> $T/venv/lib/python3.13/site-packages/nvidia/nccl/lib/libnccl.so.2",
                "pip wheel in CONDA_PREFIX -> $T/conda/lib/python3.10/site-packages/nvidia/nccl/lib/libnccl.so.2",
                "CONDA_PREFIX -> $T/conda/lib/libnccl.so.2",
                "pip wheel in user site-packages -> $T/home/.local/lib/python3.11/site-packages/nvidia/nccl/lib/libnccl.so.2",
                // newest Python first: 3.12 sorts before 3.9 numerically
                "pip wheel in system site-packages -> $T/root/usr/local/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
                "pip wheel in system dist-packages -> $T/root/usr/local/lib/python3.12/dist-packages/nvidia/nccl/lib/libnccl.so.2",
                "pip wheel in system site-packages -> $T/root/usr/local/lib/python3.9/site-packages/nvidia/nccl/lib/libnccl.so.2",
                "pip wheel in system dist-packages -> $T/root/usr/local/lib/python3.9/dist-packages/nvidia/nccl/lib/libnccl.so.2",
                "pip wheel in system dist-packages -> $T/root/usr/lib/python3/dist-packages/nvidia/nccl/lib/libnccl.so.2",
                "CUDA_HOME -> $T/cudahome/lib64/libnccl.so.2",
                "CUDA_HOME -> $T/cudahome/lib/libnccl.so.2",
                "CUDA_PATH -> $T/cudapath/lib64/libnccl.so.2",
                "CUDA_PATH -> $T/cudapath/lib/libnccl.so.2",
                "CUDA toolkit default -> $T/root/usr/local/cuda/lib64/libnccl.so.2",
                "distribution library directory -> $T/root/usr/lib/x86_64-linux-gnu/libnccl.so.2",
                "LD_LIBRARY_PATH -> $T/ld1/libnccl.so.2",
                "LD_LIBRARY_PATH -> $T/ld2/libnccl.so.2",
                "dynamic linker search -> libnccl.so.2"),
                describe(locator.candidates(NativeLibrary.NCCL)));
    }

    @Test
    void cudaRuntimeWheelsAreTriedInBothLayouts() throws IOException {
        layout();
        LibraryLocator locator = new LibraryLocator(Map.of(), Map.of("VIRTUAL_ENV", temp.resolve("venv").toString()),
                root, home, "amd64");

        List<String> described = describe(locator.candidates(NativeLibrary.CUDART));

        assertEquals("pip wheel in VIRTUAL_ENV -> $T/venv/lib/python3.13/site-packages/nvidia/cuda_runtime/lib/libcudart.so.13",
                described.get(0));
        assertEquals("pip wheel in VIRTUAL_ENV -> $T/venv/lib/python3.13/site-packages/nvidia/cu13/lib/libcudart.so.13",
                described.get(1));
        assertEquals("dynamic linker search -> libcudart.so.13", described.getLast());
    }

    @Test
    void withoutEnvironmentOnlyTheSystemLocationsAndTheSonameRemain() throws IOException {
        root = Files.createDirectories(temp.resolve("bare"));
        home = Files.createDirectories(temp.resolve("nohome"));
        LibraryLocator locator = new LibraryLocator(Map.of(), Map.of(), root, home, "aarch64");

        assertEquals(List.of(
                "pip wheel in system dist-packages -> $T/bare/usr/lib/python3/dist-packages/nvidia/cuda_runtime/lib/libcudart.so.13",
                "pip wheel in system dist-packages -> $T/bare/usr/lib/python3/dist-packages/nvidia/cu13/lib/libcudart.so.13",
                "CUDA toolkit default -> $T/bare/usr/local/cuda/lib64/libcudart.so.13",
                "distribution library directory -> $T/bare/usr/lib/aarch64-linux-gnu/libcudart.so.13",
                "dynamic linker search -> libcudart.so.13"),
                describe(locator.candidates(NativeLibrary.CUDART)));
    }

    @Test
    void aFileReachedTwiceIsListedOnceUnderItsFirstOrigin() throws IOException {
        root = Files.createDirectories(temp.resolve("root"));
        home = Files.createDirectories(temp.resolve("home"));
        Path toolkit = root.resolve("usr/local/cuda");
        LibraryLocator locator = new LibraryLocator(Map.of(),
                Map.of("CUDA_HOME", toolkit.toString(), "LD_LIBRARY_PATH", toolkit.resolve("lib64/../lib64").toString()),
                root, home, "riscv64");

        List<String> described = describe(locator.candidates(NativeLibrary.NCCL));

        assertEquals(1, described.stream().filter(d -> d.endsWith("$T/root/usr/local/cuda/lib64/libnccl.so.2")).count(),
                described.toString());
        assertTrue(described.contains("CUDA_HOME -> $T/root/usr/local/cuda/lib64/libnccl.so.2"), described.toString());
        assertTrue(described.stream().noneMatch(d -> d.startsWith("distribution library directory")),
                "an unknown architecture has no multiarch directory: " + described);
    }

    @Test
    void anExplicitPropertyIsTheOnlyCandidate() throws IOException {
        layout();
        LibraryLocator locator = new LibraryLocator(
                Map.of("panamanccl.nccl.path", temp.resolve("explicit/libnccl.so.2").toString()),
                Map.of("PANAMANCCL_NCCL_PATH", temp.resolve("fromenv/libnccl.so.2").toString(),
                        "VIRTUAL_ENV", temp.resolve("venv").toString(),
                        "LD_LIBRARY_PATH", temp.resolve("ld1").toString()),
                root, home, "amd64");

        List<Candidate> candidates = locator.candidates(NativeLibrary.NCCL);

        assertEquals(List.of("system property panamanccl.nccl.path -> $T/explicit/libnccl.so.2"), describe(candidates));
        assertTrue(assertInstanceOf(FileCandidate.class, candidates.getFirst()).explicit());
    }

    @Test
    void withoutThePropertyTheEnvironmentVariableIsTheOnlyCandidate() throws IOException {
        layout();
        LibraryLocator locator = new LibraryLocator(Map.of(),
                Map.of("PANAMANCCL_CUDART_PATH", temp.resolve("fromenv/libcudart.so.13").toString(),
                        "CUDA_HOME", temp.resolve("cudahome").toString()),
                root, home, "amd64");

        List<Candidate> candidates = locator.candidates(NativeLibrary.CUDART);

        assertEquals(List.of("environment variable PANAMANCCL_CUDART_PATH -> $T/fromenv/libcudart.so.13"),
                describe(candidates));
        assertTrue(assertInstanceOf(FileCandidate.class, candidates.getFirst()).explicit());
    }

    @Test
    void searchedPlacesAreNotExplicit() throws IOException {
        layout();
        LibraryLocator locator = new LibraryLocator(Map.of(), Map.of("VIRTUAL_ENV", temp.resolve("venv").toString()),
                root, home, "amd64");

        assertTrue(locator.candidates(NativeLibrary.NCCL).stream()
                .noneMatch(c -> c instanceof FileCandidate file && file.explicit()));
    }

    @Test
    void aRelativeExplicitPathIsMadeAbsoluteAndBlankValuesAreIgnored() throws IOException {
        root = Files.createDirectories(temp.resolve("root"));
        home = Files.createDirectories(temp.resolve("home"));
        LibraryLocator relative = new LibraryLocator(Map.of("panamanccl.nccl.path", "lib/../lib/libnccl.so.2"),
                Map.of(), root, home, "amd64");

        FileCandidate explicit = assertInstanceOf(FileCandidate.class,
                relative.candidates(NativeLibrary.NCCL).getFirst());
        assertEquals(Path.of("lib/libnccl.so.2").toAbsolutePath(), explicit.file());

        LibraryLocator blank = new LibraryLocator(Map.of("panamanccl.nccl.path", " "),
                Map.of("PANAMANCCL_NCCL_PATH", "  ", "CUDA_HOME", ""), root, home, "amd64");
        List<Candidate> candidates = blank.candidates(NativeLibrary.NCCL);
        assertTrue(candidates.stream().noneMatch(c -> c.origin().contains("panamanccl.nccl.path")
                || c.origin().contains("PANAMANCCL_NCCL_PATH") || c.origin().equals("CUDA_HOME")), candidates.toString());
        assertInstanceOf(SonameCandidate.class, candidates.getLast());
    }
}
