package io.github.panamanccl.sync;

import java.nio.ByteBuffer;

/**
 * The 32 bytes in front of every bucket on the host transport: magic, version, bucket index, bucket count, length,
 * CRC32C of the bytes. Encoding and decoding are pure; a receiver decodes and checks every field against the bucket
 * it expects before it reads a byte of the bucket, and checks the CRC after.
 */
record BucketHeader(long version, int bucket, int bucketCount, long length, int crc32c) {
    static final int BYTES = 32;
    private static final int MAGIC = 0x504E424B; // "PNBK"

    ByteBuffer encode() {
        return ByteBuffer.allocate(BYTES).putInt(MAGIC).putLong(version).putInt(bucket).putInt(bucketCount)
                .putLong(length).putInt(crc32c).flip();
    }

    /**
     * Reads the header from the next {@link #BYTES} bytes of {@code bytes}.
     *
     * @throws TransportException ({@link FailureReason#CORRUPT_BUCKET}) when fewer bytes remain or the magic is wrong
     */
    static BucketHeader decode(ByteBuffer bytes) {
        if (bytes.remaining() < BYTES) {
            throw corrupt("header has " + bytes.remaining() + " bytes, expected " + BYTES);
        }
        int magic = bytes.getInt();
        if (magic != MAGIC) {
            throw corrupt("header magic is 0x" + Integer.toHexString(magic) + ", expected 0x"
                    + Integer.toHexString(MAGIC));
        }
        return new BucketHeader(bytes.getLong(), bytes.getInt(), bytes.getInt(), bytes.getLong(), bytes.getInt());
    }

    /** @throws TransportException ({@link FailureReason#CORRUPT_BUCKET}) naming the first field that differs */
    void expect(Transport.BucketTag tag, long byteSize) {
        String where = "bucket " + tag.bucket() + " of version " + tag.version() + " is corrupt: ";
        expect(where, "version", version, tag.version());
        expect(where, "bucket index", bucket, tag.bucket());
        expect(where, "bucket count", bucketCount, tag.bucketCount());
        expect(where, "length", length, byteSize);
    }

    private static void expect(String where, String field, long actual, long expected) {
        if (actual != expected) {
            throw corrupt(where + "header " + field + " is " + actual + ", expected " + expected);
        }
    }

    static TransportException corrupt(String what) {
        return new TransportException(FailureReason.CORRUPT_BUCKET, 0, what, null);
    }
}
