package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.HostBucketPacker;
import io.github.panamanccl.bucket.TensorSpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The zero-copy host data path over real loopback connections: the sender pipeline writes straight from the source
 * tensors, receivers read straight into their destinations (in place) or into their staging area (staged). A
 * {@link DataRelay} between them records the wire, and flips, cuts or holds it mid-bucket.
 */
@Timeout(60)
class HostDataPathTest {
    private final BucketPlan plan = SyncFixtures.plan(1); // split, small, large and empty tensors
    private final ExecutorService root = Executors.newSingleThreadExecutor();

    private Future<?> publish(HostSenderPipeline sender, HostRanks ranks, long version) {
        return root.submit(() -> {
            sender.run(version, ranks.rank(0), System.nanoTime(), HostRanks.deadline(10_000), p -> { });
            return null;
        });
    }

    private static void receive(HostReceiverPipeline receiver, HostRanks ranks, long version, long deadline)
            throws Exception {
        receiver.receive(version, ranks.rank(1), System.nanoTime(), deadline, p -> { });
        receiver.commit(version, deadline, () -> { });
    }

    /** The bytes the sender puts on the wire are HostBucketPacker's buckets, each behind its header with its CRC32C. */
    @Test
    void the_wire_carries_exactly_the_buckets_the_packer_packs() throws Exception {
        try (Arena arena = Arena.ofShared(); DataRelay relay = new DataRelay(); HostRanks ranks = HostRanks.form(2, relay)) {
            MemorySegment[] sources = carvedBackToBack(arena);
            SyncFixtures.fill(plan, byName(sources), 7);
            try (HostSenderPipeline sender = new HostSenderPipeline(plan, sources);
                 HostReceiverPipeline receiver = HostReceiverPipeline.scattering(plan, CommitMode.IN_PLACE,
                         Tensors.resolve(plan, SyncFixtures.allocate(plan, arena), "destination"))) {
                Future<?> sent = publish(sender, ranks, 7);
                receive(receiver, ranks, 7, HostRanks.deadline(10_000));
                sent.get();
            }
            ByteBuffer wire = ByteBuffer.wrap(relay.takeRecorded());
            wire.position(DataRelay.ACK_BYTES);
            MemorySegment packed = arena.allocate(plan.maxBucketByteSize());
            for (int k = 0; k < plan.bucketCount(); k++) {
                HostBucketPacker.pack(plan, k, sources, packed);
                byte[] expected = packed.asSlice(0, plan.bucketByteSize(k)).toArray(ValueLayout.JAVA_BYTE);
                CRC32C crc = new CRC32C();
                crc.update(expected);
                BucketHeader header = BucketHeader.decode(wire);
                assertEquals(new BucketHeader(7, k, plan.bucketCount(), expected.length, (int) crc.getValue()), header);
                byte[] actual = new byte[expected.length];
                wire.get(actual);
                assertArrayEquals(expected, actual, "bucket " + k);
            }
            assertEquals(0, wire.remaining(), "nothing else on the wire");
        }
    }

    /** The plan's tensors carved from one buffer in plan order, back to back: neighbours share spans. */
    private MemorySegment[] carvedBackToBack(Arena arena) {
        long total = plan.tensors().stream().mapToLong(TensorSpec::byteSize).sum();
        MemorySegment flat = arena.allocate(total, 8);
        MemorySegment[] tensors = new MemorySegment[plan.tensorCount()];
        long offset = 0;
        for (int t = 0; t < tensors.length; t++) {
            tensors[t] = flat.asSlice(offset, plan.tensor(t).byteSize());
            offset += plan.tensor(t).byteSize();
        }
        return tensors;
    }

    private Map<String, MemorySegment> byName(MemorySegment[] tensors) {
        Map<String, MemorySegment> byName = new LinkedHashMap<>();
        for (int t = 0; t < tensors.length; t++) {
            byName.put(plan.tensor(t).name(), tensors[t]);
        }
        return byName;
    }

    /** Waits until the root's side of an update has ended, whatever its outcome. */
    private static void awaitEnd(Future<?> sending) throws InterruptedException, TimeoutException {
        try {
            sending.get(10, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            // the receiver (or the relay) gave up on it
        }
    }

    @Test
    void an_in_place_receiver_lands_every_version_straight_in_its_tensors_with_a_small_local_buffer() throws Exception {
        try (Arena arena = Arena.ofShared(); HostRanks ranks = HostRanks.form(2)) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (HostSenderPipeline sender = new HostSenderPipeline(plan, Tensors.resolve(plan, sources, "source"));
                 HostReceiverPipeline receiver = HostReceiverPipeline.scattering(plan, CommitMode.IN_PLACE,
                         Tensors.resolve(plan, destinations, "destination"))) {
                assertTrue(receiver.bufferBytes() < plan.maxBucketByteSize() / 8,
                        "only small tensors and padding are buffered: " + receiver.bufferBytes());
                for (long version = 1; version <= 3; version++) {
                    SyncFixtures.fill(plan, sources, version);
                    Future<?> sent = publish(sender, ranks, version);
                    receive(receiver, ranks, version, HostRanks.deadline(10_000));
                    sent.get();
                    assertNull(SyncFixtures.firstMismatch(plan, destinations, version));
                    assertTrue(receiver.touched());
                }
            }
        }
    }

    /**
     * One flipped byte in bucket 1 fails the bucket's checksum. In place, bucket 0 and bucket 1's bytes have already
     * landed in the tensors, so the pipeline says it touched them (the receiver reports TORN); staged, nothing was
     * applied and the tensors still hold the previous version.
     */
    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void a_corrupt_byte_fails_the_bucket_torn_in_place_intact_staged(CommitMode mode) throws Exception {
        TransportException e = failSecondUpdate(mode, DataRelay.Fault.FLIP_BYTE, HostRanks.deadline(10_000),
                FailureReason.CORRUPT_BUCKET);
        assertTrue(e.getMessage().startsWith("bucket 1 of version 2 is corrupt: CRC32C is 0x"), e.getMessage());
    }

    /** The sender's connection ends in the middle of bucket 1: in place, torn; staged, intact. */
    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void losing_the_sender_mid_bucket_leaves_in_place_torn_and_staged_intact(CommitMode mode) throws Exception {
        failSecondUpdate(mode, DataRelay.Fault.CUT, HostRanks.deadline(10_000), FailureReason.PEER_LOST);
    }

    /** The bytes stop in the middle of bucket 1 and the deadline passes: in place, torn; staged, intact. */
    @ParameterizedTest
    @EnumSource(CommitMode.class)
    void a_deadline_passing_mid_bucket_leaves_in_place_torn_and_staged_intact(CommitMode mode) throws Exception {
        long start = System.nanoTime();
        failSecondUpdate(mode, DataRelay.Fault.HOLD, HostRanks.deadline(400), FailureReason.DEADLINE);
        assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(390), "failed at the deadline");
    }

    /**
     * A receiver's connection dies in the middle of bucket 1 of a model far larger than the socket buffers: the
     * sender, still writing straight from its tensors, fails at once with PEER_LOST naming rank 1, long before its
     * deadline, and so does the receiver.
     */
    @Test
    void a_receiver_lost_mid_bucket_fails_the_sender_promptly_naming_it() throws Exception {
        BucketPlan large = SyncFixtures.plan(16);
        assertTrue(large.totalBucketBytes() > 32L << 20, "more than the socket buffers hold");
        try (Arena arena = Arena.ofShared(); DataRelay relay = new DataRelay(); HostRanks ranks = HostRanks.form(2, relay)) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(large, arena);
            SyncFixtures.fill(large, sources, 1);
            try (HostSenderPipeline sender = new HostSenderPipeline(large, Tensors.resolve(large, sources, "source"));
                 HostReceiverPipeline receiver = HostReceiverPipeline.scattering(large, CommitMode.IN_PLACE,
                         Tensors.resolve(large, SyncFixtures.allocate(large, arena), "destination"))) {
                relay.inject(DataRelay.Fault.CUT, DataRelay.offsetOf(large, 0, 1, 100));
                long start = System.nanoTime();
                Future<?> sent = root.submit(() -> {
                    sender.run(1, ranks.rank(0), System.nanoTime(), HostRanks.deadline(30_000), p -> { });
                    return null;
                });
                TransportException atReceiver = assertThrows(TransportException.class,
                        () -> receive(receiver, ranks, 1, HostRanks.deadline(30_000)));
                assertEquals(FailureReason.PEER_LOST, atReceiver.reason(), atReceiver.getMessage());
                ExecutionException failed = assertThrows(ExecutionException.class, () -> sent.get(20, TimeUnit.SECONDS));
                TransportException atSender = assertInstanceOf(TransportException.class, failed.getCause());
                assertEquals(FailureReason.PEER_LOST, atSender.reason(), atSender.getMessage());
                assertEquals(1, atSender.peerRank(), atSender.getMessage());
                assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(15), "failed long before the deadline");
            }
        }
    }

    /**
     * Version 1 arrives intact; version 2 meets {@code fault} 100 bytes into bucket 1 and must fail with
     * {@code reason}, touching the tensors in place only.
     */
    private TransportException failSecondUpdate(CommitMode mode, DataRelay.Fault fault, long secondDeadline,
            FailureReason reason) throws Exception {
        try (Arena arena = Arena.ofShared(); DataRelay relay = new DataRelay(); HostRanks ranks = HostRanks.form(2, relay)) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (HostSenderPipeline sender = new HostSenderPipeline(plan, Tensors.resolve(plan, sources, "source"));
                 HostReceiverPipeline receiver = HostReceiverPipeline.scattering(plan, mode,
                         Tensors.resolve(plan, destinations, "destination"))) {
                SyncFixtures.fill(plan, sources, 1);
                Future<?> first = publish(sender, ranks, 1);
                receive(receiver, ranks, 1, HostRanks.deadline(10_000));
                first.get();
                relay.inject(fault, DataRelay.offsetOf(plan, 1, 1, 100));
                SyncFixtures.fill(plan, sources, 2);
                Future<?> second = publish(sender, ranks, 2);
                TransportException e = assertThrows(TransportException.class,
                        () -> receive(receiver, ranks, 2, secondDeadline));
                assertEquals(reason, e.reason(), e.getMessage());
                assertTrue(relay.awaitFault(0), "the fault struck");
                if (mode == CommitMode.IN_PLACE) {
                    assertTrue(receiver.touched(), "bytes of version 2 landed: the receiver is torn");
                    assertEquals(0, plan.piecesOf(0).getFirst().bucket(), "tensor 0 is in bucket 0");
                    assertTrue(SyncFixtures.holds(plan, 0, destinations.get(plan.tensor(0).name()), 2),
                            "bucket 0 landed");
                } else {
                    assertFalse(receiver.touched());
                    assertNull(SyncFixtures.firstMismatch(plan, destinations, 1), "still exactly version 1");
                }
                ranks.rank(0).abort();
                awaitEnd(second);
                return e;
            }
        }
    }

    /** A header for another version is refused before a byte of the bucket lands. */
    @Test
    void a_bucket_of_another_version_is_refused_before_anything_lands() throws Exception {
        try (Arena arena = Arena.ofShared(); HostRanks ranks = HostRanks.form(2)) {
            Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, arena);
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (HostSenderPipeline sender = new HostSenderPipeline(plan, Tensors.resolve(plan, sources, "source"));
                 HostReceiverPipeline receiver = HostReceiverPipeline.scattering(plan, CommitMode.IN_PLACE,
                         Tensors.resolve(plan, destinations, "destination"))) {
                SyncFixtures.fill(plan, sources, 2);
                Future<?> sent = publish(sender, ranks, 2);
                TransportException e = assertThrows(TransportException.class,
                        () -> receive(receiver, ranks, 3, HostRanks.deadline(10_000)));
                assertEquals(FailureReason.CORRUPT_BUCKET, e.reason());
                assertTrue(e.getMessage().contains("header version is 2, expected 3"), e.getMessage());
                assertFalse(receiver.touched(), "nothing landed");
                for (MemorySegment destination : destinations.values()) {
                    assertEquals(-1, destination.mismatch(arena.allocate(destination.byteSize())), "still all zero");
                }
                ranks.rank(0).abort();
                awaitEnd(sent);
            }
        }
    }

    @Test
    void a_read_only_destination_is_refused_when_the_pipeline_is_built() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment[] destinations = Tensors.resolve(plan, SyncFixtures.allocate(plan, arena), "destination");
            destinations[2] = destinations[2].asReadOnly();
            for (CommitMode mode : CommitMode.values()) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> HostReceiverPipeline.scattering(plan, mode, destinations));
                assertEquals("destination for tensor " + plan.tensor(2).name() + " is read-only", e.getMessage());
            }
        }
    }
}
