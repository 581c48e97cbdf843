package io.github.panamanccl;

/**
 * An NCCL version as reported by ncclGetVersion.
 *
 * @param code  the raw version code: {@code X*10000 + Y*100 + Z} since 2.9, {@code X*1000 + Y*100 + Z} before
 * @param major X
 * @param minor Y
 * @param patch Z
 */
public record NcclVersion(int code, int major, int minor, int patch) {
    /** Codes at or above this use the 2.9+ scheme (the old scheme tops out at 2.8.99 = 2899). */
    private static final int NEW_SCHEME_THRESHOLD = 10000;

    /** Decodes either version-code scheme, e.g. 23007 to 2.30.7 and 2708 to 2.7.8. */
    public static NcclVersion fromCode(int code) {
        if (code < 0) {
            throw new IllegalArgumentException("NCCL version code is negative: " + code);
        }
        if (code >= NEW_SCHEME_THRESHOLD) {
            return new NcclVersion(code, code / 10000, code % 10000 / 100, code % 100);
        }
        return new NcclVersion(code, code / 1000, code % 1000 / 100, code % 100);
    }

    /** Whether this version is at least {@code major.minor.patch}. */
    public boolean isAtLeast(int major, int minor, int patch) {
        return this.major != major ? this.major > major
                : this.minor != minor ? this.minor > minor : this.patch >= patch;
    }

    @Override
    public String toString() {
        return major + "." + minor + "." + patch;
    }
}
