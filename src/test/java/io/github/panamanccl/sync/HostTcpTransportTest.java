package io.github.panamanccl.sync;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
class HostTcpTransportTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private static long deadline(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    private static Transport.Group join(Transport t, byte[] rendezvous, int rank, int worldSize, long deadlineNanos) {
        try (Transport.PendingGroup joining = t.join(rendezvous, LOOPBACK, rank, worldSize)) {
            return joining.awaitGroup(deadlineNanos);
        }
    }

    @Test
    void root_broadcast_reaches_every_receiver_byte_exact() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(2);
             HostRanks ranks = HostRanks.form(3)) {
            MemorySegment send = arena.allocate(3_000_001);
            for (long i = 0; i < send.byteSize(); i++) {
                send.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + 7));
            }
            MemorySegment ra = arena.allocate(send.byteSize());
            MemorySegment rb = arena.allocate(send.byteSize());
            Transport.BucketTag tag = new Transport.BucketTag(5, 0, 1);
            Future<?> fa = pool.submit(() -> ranks.rank(1).broadcast(ra, tag, deadline(5000)));
            Future<?> fb = pool.submit(() -> ranks.rank(2).broadcast(rb, tag, deadline(5000)));
            ranks.rank(0).broadcast(send, tag, deadline(5000));
            fa.get();
            fb.get();
            assertEquals(-1, send.mismatch(ra));
            assertEquals(-1, send.mismatch(rb));
            assertEquals(1, ranks.rank(0).collectiveCalls());
        }
    }

    @Test
    void receiver_rejects_a_bucket_with_an_unexpected_tag_and_times_out_when_nothing_comes() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(1);
             HostRanks ranks = HostRanks.form(2)) {
            MemorySegment recv = arena.allocate(64);
            long start = System.nanoTime();
            TransportException timeout = assertThrows(TransportException.class,
                    () -> ranks.rank(1).broadcast(recv, new Transport.BucketTag(1, 0, 1), deadline(300)));
            assertEquals(FailureReason.DEADLINE, timeout.reason());
            assertTrue(System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(290));

            Future<?> sent = pool.submit(() -> ranks.rank(0).broadcast(arena.allocate(64),
                    new Transport.BucketTag(2, 0, 1), deadline(5000)));
            TransportException stale = assertThrows(TransportException.class,
                    () -> ranks.rank(1).broadcast(recv, new Transport.BucketTag(3, 0, 1), deadline(5000)));
            assertEquals(FailureReason.CORRUPT_BUCKET, stale.reason());
            assertTrue(stale.getMessage().contains("header version is 2, expected 3"), stale.getMessage());
            sent.get();
        }
    }

    @Test
    void abort_from_another_thread_ends_a_blocked_receive_promptly() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(1);
             HostRanks ranks = HostRanks.form(2)) {
            MemorySegment recv = arena.allocate(64);
            Future<?> blocked = pool.submit(() -> ranks.rank(1).broadcast(recv, new Transport.BucketTag(1, 0, 1),
                    deadline(20_000)));
            Thread.sleep(100);
            long start = System.nanoTime();
            ranks.rank(1).abort();
            ExecutionException e = assertThrows(ExecutionException.class, () -> blocked.get(2, TimeUnit.SECONDS));
            assertEquals(FailureReason.CLOSED, ((TransportException) e.getCause()).reason(), "aborted");
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(1));
        }
    }

    /**
     * A connection with the wrong secret is not acknowledged: the root closes it, so the intruder's join fails at
     * once (it is not left believing it joined), and the root goes on waiting for the real receiver.
     */
    @Test
    void a_connection_without_the_secret_does_not_join_the_group() throws Exception {
        Transport t = Transport.hostTcp();
        try (ExecutorService pool = Executors.newSingleThreadExecutor();
             Transport.Rendezvous rv = t.openRendezvous(LOOPBACK, 2)) {
            byte[] forged = rv.bytes();
            forged[10] ^= 1;
            Future<TransportException> intruder = pool.submit(() -> assertThrows(TransportException.class,
                    () -> join(t, forged, 1, 2, deadline(20_000))));
            TransportException e = assertThrows(TransportException.class, () -> rv.awaitGroup(deadline(1000)));
            assertEquals(FailureReason.DEADLINE, e.reason());
            TransportException refused = intruder.get(10, TimeUnit.SECONDS);
            assertEquals(FailureReason.PEER_LOST, refused.reason(), refused.getMessage());
            assertTrue(refused.getMessage().contains("before acknowledging"), refused.getMessage());
        }
    }

    /**
     * A peer that connects to the data port and sends nothing: the legitimate receiver still joins long before the
     * deadline, and the silent connection is closed once the group has formed.
     */
    @Test
    void a_silent_connection_neither_delays_nor_breaks_the_group_and_is_closed() throws Exception {
        Transport t = Transport.hostTcp();
        try (ExecutorService pool = Executors.newSingleThreadExecutor();
             Transport.Rendezvous rv = t.openRendezvous(LOOPBACK, 2)) {
            byte[] bytes = rv.bytes();
            int port = java.nio.ByteBuffer.wrap(bytes).getInt();
            try (java.net.Socket silent = new java.net.Socket(LOOPBACK, port)) {
                silent.setSoTimeout(10_000);
                Future<Transport.Group> member = pool.submit(() -> {
                    // the silent peer is accepted first: it is in the backlog before this receiver connects
                    return join(t, bytes, 1, 2, deadline(20_000));
                });
                long start = System.nanoTime();
                try (Transport.Group root = rv.awaitGroup(deadline(20_000)); Transport.Group joined = member.get()) {
                    long elapsed = System.nanoTime() - start;
                    assertEquals(2, root.worldSize());
                    assertEquals(1, joined.rank());
                    assertTrue(elapsed < TimeUnit.SECONDS.toNanos(4), "formed after " + elapsed / 1_000_000 + " ms");
                    assertEquals(-1, silent.getInputStream().read(), "the silent connection was closed");
                }
            }
        }
    }

    @Test
    void an_abort_from_another_thread_ends_the_root_s_wait_for_receivers_at_once() throws Exception {
        try (Transport.Rendezvous rv = Transport.hostTcp().openRendezvous(LOOPBACK, 3)) {
            Thread controlPlane = Thread.ofPlatform().start(() -> {
                sleepQuietly(100);
                rv.abort();
            });
            long start = System.nanoTime();
            TransportException e = assertThrows(TransportException.class, () -> rv.awaitGroup(deadline(30_000)));
            long elapsed = System.nanoTime() - start;
            controlPlane.join();
            assertEquals(FailureReason.CLOSED, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("was aborted"), e.getMessage());
            assertTrue(elapsed < TimeUnit.SECONDS.toNanos(10), "the wait ended after " + elapsed / 1_000_000 + " ms");
            rv.abort(); // idempotent
        }
    }

    @Test
    void a_join_aborted_before_it_waits_fails_without_connecting() {
        Transport t = Transport.hostTcp();
        try (Transport.Rendezvous rv = t.openRendezvous(LOOPBACK, 2);
             Transport.PendingGroup joining = t.join(rv.bytes(), LOOPBACK, 1, 2)) {
            joining.abort();
            TransportException e = assertThrows(TransportException.class, () -> joining.awaitGroup(deadline(5000)));
            assertEquals(FailureReason.CLOSED, e.reason(), e.getMessage());
            assertTrue(e.getMessage().contains("was aborted"), e.getMessage());
            TransportException root = assertThrows(TransportException.class, () -> rv.awaitGroup(deadline(300)));
            assertEquals(FailureReason.DEADLINE, root.reason(), "nobody joined: " + root.getMessage());
        }
    }

    private static void sleepQuietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
