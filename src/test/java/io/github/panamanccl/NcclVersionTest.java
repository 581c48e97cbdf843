package io.github.panamanccl;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NcclVersionTest {
    @Test
    void decodesTheSchemeUsedSince2_9() {
        assertEquals(new NcclVersion(23007, 2, 30, 7), NcclVersion.fromCode(23007));
        assertEquals(new NcclVersion(21903, 2, 19, 3), NcclVersion.fromCode(21903));
        assertEquals(new NcclVersion(20900, 2, 9, 0), NcclVersion.fromCode(20900));
        assertEquals("2.30.7", NcclVersion.fromCode(23007).toString());
    }

    @Test
    void decodesTheSchemeUsedBefore2_9() {
        assertEquals(new NcclVersion(2708, 2, 7, 8), NcclVersion.fromCode(2708));
        assertEquals(new NcclVersion(2406, 2, 4, 6), NcclVersion.fromCode(2406));
    }

    @Test
    void rejectsNegativeCodes() {
        IllegalArgumentException failure = assertThrows(IllegalArgumentException.class, () -> NcclVersion.fromCode(-1));
        assertTrue(failure.getMessage().contains("-1"), failure.getMessage());
    }

    @Test
    void comparesVersions() {
        NcclVersion version = NcclVersion.fromCode(21903);
        assertTrue(version.isAtLeast(2, 19, 3));
        assertTrue(version.isAtLeast(2, 14, 0));
        assertFalse(version.isAtLeast(2, 19, 4));
        assertFalse(version.isAtLeast(2, 30, 0));
        assertFalse(version.isAtLeast(3, 0, 0));
    }
}
