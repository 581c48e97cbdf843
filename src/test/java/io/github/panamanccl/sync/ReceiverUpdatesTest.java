package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Which failure a receiver reports when the sender's ABORT and its own failure meet, on the application thread's
 * side, with a group and a pipeline that play the data plane: no sockets, no threads. The test plays the control
 * thread by recording the sender's ABORT on the attempt while the update is received.
 */
class ReceiverUpdatesTest {
    private static final BucketPlan PLAN = SyncFixtures.plan(1);
    private static final int RANK = 1;
    private static final long VERSION = 7;

    private final List<Wire.Message> toSender = new ArrayList<>();
    /** What the pipeline does while it receives: the data plane's events. */
    private Runnable whileReceiving = () -> { };
    /** What happens while this rank aborts its group or formation: the control thread's events meanwhile. */
    private Runnable whileAborting = () -> { };
    /** Null: the group forms; else the formation fails with it. */
    private RuntimeException formationFailure;
    private final ReceiverUpdates<Transport.HostGroup> updates = new ReceiverUpdates<>(new OneGroup(),
            new ScriptedPipeline(), InetAddress.getLoopbackAddress(), PLAN, new SyncListener() { }, toSender::add);

    private static ReceiverControl.JoinGroup formGroup(Attempt attempt) {
        return new ReceiverControl.JoinGroup(new Wire.FormGroup(VERSION, 1, RANK, 3, 1000, new byte[] {1}), attempt,
                deadline());
    }

    private Attempt joined() {
        Attempt attempt = new Attempt(VERSION, UpdatePhase.FORMING_GROUP);
        updates.joinGroup(formGroup(attempt));
        assertEquals(List.of(new Wire.GroupReady(VERSION)), toSender);
        toSender.clear();
        attempt.advance(UpdatePhase.ANNOUNCING);
        return attempt;
    }

    private UpdateFailedException runFails(Attempt attempt) {
        Wire.Begin begin = new Wire.Begin(1, VERSION, HexFormat.of().parseHex(PLAN.fingerprint()), 1000);
        return assertThrows(UpdateFailedException.class,
                () -> updates.run(new ReceiverControl.RunUpdate(begin, attempt, deadline())));
    }

    /**
     * Over NCCL a rank whose stream fails aborts its communicator, which fails the peers' collectives at once; the
     * sender's ABORT that follows can be recorded here before this rank's own failure reaches the attempt.
     */
    @Test
    void a_local_failure_stands_on_its_rank_over_the_senders_abort_that_echoes_it_and_is_reported_to_the_sender() {
        Attempt attempt = joined();
        whileReceiving = () -> {
            senderAborts(attempt, FailureReason.PEER_LOST, UpdateFailedException.UNKNOWN_RANK,
                    "waiting for the broadcast failed: ncclRemoteError");
            throw new TransportException(FailureReason.LOCAL_ERROR, UpdateFailedException.UNKNOWN_RANK,
                    "waiting for the broadcast failed on this rank (no peer at fault): cudaErrorIllegalAddress", null);
        };
        UpdateFailedException e = runFails(attempt);
        assertEquals(FailureReason.LOCAL_ERROR, e.reason(), e.getMessage());
        assertEquals(RANK, e.failedRank(), e.getMessage());
        assertEquals(UpdatePhase.TRANSFER, e.phase());
        assertTrue(e.getMessage().contains("cudaErrorIllegalAddress"), e.getMessage());
        assertEquals(List.of(new Wire.Ready(VERSION)), toSender.subList(0, 1));
        assertEquals(2, toSender.size(), toSender.toString());
        Wire.Failed told = assertInstanceOf(Wire.Failed.class, toSender.getLast());
        assertEquals(List.of(VERSION, FailureReason.LOCAL_ERROR), List.of(told.version(), told.reason()));
        assertTrue(told.message().contains("cudaErrorIllegalAddress"), told.message());
    }

    /** The sender's ABORT naming another rank's local failure is that rank's: this rank does not claim it. */
    @Test
    void an_abort_naming_another_ranks_local_failure_is_reported_as_that_ranks() {
        Attempt attempt = joined();
        whileReceiving = () -> {
            senderAborts(attempt, FailureReason.LOCAL_ERROR, 2, "receiver rank 2 reported LOCAL_ERROR: cudaError");
            attempt.throwIfFailed();
        };
        UpdateFailedException e = runFails(attempt);
        assertEquals(FailureReason.LOCAL_ERROR, e.reason(), e.getMessage());
        assertEquals(2, e.failedRank(), e.getMessage());
        assertEquals(List.of(new Wire.Ready(VERSION)), toSender, "no FAILED: the sender knows already");
    }

    @Test
    void a_peer_failure_seen_after_the_senders_abort_reports_the_abort() {
        Attempt attempt = joined();
        whileReceiving = () -> {
            senderAborts(attempt, FailureReason.PEER_LOST, 2, "receiver rank 2 lost its control connection");
            throw new TransportException(FailureReason.PEER_LOST, UpdateFailedException.UNKNOWN_RANK,
                    "waiting for the broadcast failed: ncclRemoteError", null);
        };
        UpdateFailedException e = runFails(attempt);
        assertEquals(List.of(FailureReason.PEER_LOST, 2), List.of(e.reason(), e.failedRank()), e.getMessage());
        assertTrue(e.getMessage().contains("lost its control connection"), e.getMessage());
        assertEquals(List.of(new Wire.Ready(VERSION)), toSender, "no FAILED: the sender knows already");
    }

    /**
     * The sender cut this rank's data connection after sending its ABORT, whose arrival on the control thread races
     * with this rank's own failure: it may come while this rank aborts its group. The ABORT names the cause.
     */
    @Test
    void a_cut_data_connection_reports_the_senders_abort_that_arrives_while_the_group_is_aborted() {
        Attempt attempt = joined();
        whileReceiving = () -> {
            throw new TransportException(FailureReason.PEER_LOST, 0, "broadcast of bucket 11 of version 7 failed: "
                    + "connection closed by peer with 32 bytes still expected", null);
        };
        whileAborting = () -> senderAborts(attempt, FailureReason.DEADLINE, 2, "deadline of PT2S passed: receiver "
                + "rank 2 did not acknowledge (DONE)");
        UpdateFailedException e = runFails(attempt);
        assertEquals(List.of(FailureReason.DEADLINE, 2), List.of(e.reason(), e.failedRank()), e.getMessage());
        assertEquals(List.of(new Wire.Ready(VERSION)), toSender, "no FAILED: the sender knows already");
    }

    /** A formation the sender aborted fails with its ABORT, also one that came while the formation was aborted. */
    @Test
    void a_formation_cut_short_reports_the_senders_abort_that_arrives_while_the_formation_is_aborted() {
        Attempt attempt = new Attempt(VERSION, UpdatePhase.FORMING_GROUP);
        formationFailure = TransportException.aborted("host-tcp group formation", null);
        whileAborting = () -> senderAborts(attempt, FailureReason.PEER_LOST, 2, "receiver rank 2 lost its control "
                + "connection");
        UpdateFailedException e = assertThrows(UpdateFailedException.class, () -> updates.joinGroup(formGroup(attempt)));
        assertEquals(List.of(FailureReason.PEER_LOST, 2), List.of(e.reason(), e.failedRank()), e.getMessage());
        assertEquals(UpdatePhase.FORMING_GROUP, e.phase());
        assertTrue(toSender.isEmpty(), "no FAILED: the sender knows already: " + toSender);
    }

    /** What the control thread does when the sender's ABORT arrives. */
    private static void senderAborts(Attempt attempt, FailureReason reason, int failedRank, String message) {
        attempt.noticed(Failure.fromSender(new Wire.Abort(VERSION, reason, failedRank, message)));
    }

    private static long deadline() {
        return System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    }

    /** Forms one host group of rank {@link #RANK} that carries nothing (the pipeline plays the data plane). */
    private final class OneGroup implements GroupTransport<Transport.HostGroup> {
        @Override
        public String name() {
            return "host-tcp";
        }

        @Override
        public RootFormation<Transport.HostGroup> openRendezvous(InetAddress bindAddress, int worldSize) {
            throw new UnsupportedOperationException("receiver side only");
        }

        @Override
        public Formation<Transport.HostGroup> join(byte[] rendezvous, InetAddress senderAddress, int rank,
                int worldSize) {
            return new Formation<>() {
                @Override
                public Transport.HostGroup awaitGroup(long deadlineNanos) {
                    if (formationFailure != null) {
                        throw formationFailure;
                    }
                    return new SilentGroup(rank, worldSize, () -> whileAborting.run());
                }

                @Override
                public void abort() {
                    whileAborting.run();
                }

                @Override
                public void close() {
                }
            };
        }
    }

    /** A group whose abort runs {@code onAbort}. */
    private record SilentGroup(int rank, int worldSize, Runnable onAbort) implements Transport.HostGroup {
        @Override
        public long collectiveCalls() {
            return 0;
        }

        @Override
        public void broadcast(MemorySegment bucket, Transport.BucketTag tag, long deadlineNanos) {
            throw new UnsupportedOperationException("the pipeline plays the data plane");
        }

        @Override
        public void abort() {
            onAbort.run();
        }

        @Override
        public void close() {
        }
    }

    private final class ScriptedPipeline implements ReceiverPipeline<Transport.HostGroup> {
        @Override
        public void receive(long version, Transport.HostGroup group, long startNanos, long deadlineNanos,
                Consumer<BucketProgress> progress) {
            whileReceiving.run();
        }

        @Override
        public void commit(long version, long deadlineNanos, Runnable throwIfFailed) {
            throwIfFailed.run();
        }

        @Override
        public boolean touched() {
            return false;
        }

        @Override
        public long bufferBytes() {
            return 0;
        }

        @Override
        public void close() {
        }
    }
}
