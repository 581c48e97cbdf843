package io.github.panamanccl;

/**
 * A native library could not be loaded. The message lists every place that was tried and why each
 * failed, and names the system property and environment variable that point at the library;
 * every failed load is attached as a suppressed exception.
 */
public final class LibraryUnavailableException extends PanamaNcclException {
    private static final long serialVersionUID = 1L;

    private final NativeLibrary library;

    /**
     * Built only by {@link NativeLibraries}, from the outcome of its search.
     *
     * @param library the library that could not be loaded
     * @param message every place tried, why each failed, and how to point at the library
     */
    LibraryUnavailableException(NativeLibrary library, String message) {
        super(message);
        this.library = library;
    }

    /** The library that is missing. */
    public NativeLibrary library() {
        return library;
    }
}
