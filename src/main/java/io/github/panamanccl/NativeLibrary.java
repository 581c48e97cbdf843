package io.github.panamanccl;

import java.util.List;

/** The native libraries panama-nccl binds, with the names used to find them. */
public enum NativeLibrary {
    /** The CUDA 13 runtime. */
    CUDART("CUDA runtime", "libcudart.so.13", "panamanccl.cudart.path", "PANAMANCCL_CUDART_PATH",
            List.of("nvidia/cuda_runtime/lib", "nvidia/cu13/lib"), "cudaRuntimeGetVersion"),
    /** NCCL 2. */
    NCCL("NCCL", "libnccl.so.2", "panamanccl.nccl.path", "PANAMANCCL_NCCL_PATH",
            List.of("nvidia/nccl/lib"), "ncclGetVersion");

    private final String displayName;
    private final String soname;
    private final String pathProperty;
    private final String pathEnvironmentVariable;
    private final List<String> wheelLibraryDirectories;
    private final String probeSymbol;

    NativeLibrary(String displayName, String soname, String pathProperty, String pathEnvironmentVariable,
                  List<String> wheelLibraryDirectories, String probeSymbol) {
        this.displayName = displayName;
        this.soname = soname;
        this.pathProperty = pathProperty;
        this.pathEnvironmentVariable = pathEnvironmentVariable;
        this.wheelLibraryDirectories = wheelLibraryDirectories;
        this.probeSymbol = probeSymbol;
    }

    /** Human-readable name, e.g. "CUDA runtime". */
    public String displayName() {
        return displayName;
    }

    /** The file name the dynamic linker knows it by, e.g. {@code libnccl.so.2}. */
    public String soname() {
        return soname;
    }

    /** System property holding an explicit path to the library file. */
    public String pathProperty() {
        return pathProperty;
    }

    /** Environment variable holding an explicit path to the library file. */
    public String pathEnvironmentVariable() {
        return pathEnvironmentVariable;
    }

    /** Directories, relative to a Python site-packages directory, where NVIDIA's pip wheels put the library. */
    List<String> wheelLibraryDirectories() {
        return wheelLibraryDirectories;
    }

    /** A symbol every supported version exports; used to locate a library opened by soname. */
    String probeSymbol() {
        return probeSymbol;
    }
}
