package io.github.panamanccl;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Whether a native library is loaded, and from where or why not.
 *
 * @param available whether the library is loaded and usable
 * @param path      the file that was loaded, when available
 * @param attempts  every place tried, in order, each as "origin: path: outcome"
 * @param cause     why the library is unavailable (the full, actionable text); empty when available
 */
public record LibraryStatus(boolean available, Optional<Path> path, List<String> attempts, String cause) {
    /**
     * Copies the attempts.
     *
     * @throws IllegalArgumentException when an available library has no path
     */
    public LibraryStatus {
        Objects.requireNonNull(path, "path");
        attempts = List.copyOf(attempts);
        Objects.requireNonNull(cause, "cause");
        if (available && path.isEmpty()) {
            throw new IllegalArgumentException("an available library must have a path");
        }
    }
}
