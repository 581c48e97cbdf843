package io.github.panamanccl;

/** Bounds checks whose messages name the values involved. */
final class Ranges {
    private Ranges() {
    }

    /** Checks that [offset, offset + length) lies in [0, size). */
    static void check(String what, long offset, long length, long size) {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IndexOutOfBoundsException(what + ": offset " + offset + " + length " + length
                    + " does not fit in " + size + " bytes");
        }
    }
}
