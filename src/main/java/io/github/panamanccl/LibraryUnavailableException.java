package io.github.panamanccl;

/**
 * A native library could not be loaded. The message lists every place that was tried and why each
 * failed, and names the system property and environment variable that point at the library;
 * every failed load is attached as a suppressed exception.
 */
public final class LibraryUnavailableException extends PanamaNcclException {
    private static final long serialVersionUID = 1L;

    private final NativeLibrary library;

    public LibraryUnavailableException(NativeLibrary library, String message) {
        super(message);
        this.library = library;
    }

    /** The library that is missing. */
    public NativeLibrary library() {
        return library;
    }
}
