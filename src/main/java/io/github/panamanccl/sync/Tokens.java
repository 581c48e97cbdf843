package io.github.panamanccl.sync;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/** The shared join token: compared as SHA-256 digests with {@link MessageDigest#isEqual} (constant time, any length). */
final class Tokens {
    private Tokens() {
    }

    static byte[] bytes(String token) {
        if (token == null || token.isEmpty()) {
            throw new IllegalArgumentException("token must not be empty");
        }
        byte[] bytes = token.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > Wire.MAX_TOKEN_BYTES) {
            throw new IllegalArgumentException("token has " + bytes.length + " UTF-8 bytes, at most "
                    + Wire.MAX_TOKEN_BYTES + " allowed");
        }
        return bytes;
    }

    static byte[] digest(byte[] token) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(token);
        } catch (NoSuchAlgorithmException impossible) {
            throw new AssertionError("every JDK has SHA-256", impossible);
        }
    }

    static boolean matches(byte[] expectedDigest, byte[] presented) {
        return MessageDigest.isEqual(expectedDigest, digest(presented));
    }
}
