package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

import java.net.InetAddress;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;

/**
 * A receiver's application-thread side: runs the control thread's work (forming the transport group, running an
 * update) with the transport, the pipeline and the group they share, all of group type {@code G}, and owns the
 * receiver's {@link ReceiverState}. Every failure ends in one {@link UpdateFailedException} naming who failed, in
 * which phase, and why; this receiver's own failures are reported to the sender, whose ABORT names the root cause.
 *
 * @param <G> {@link Transport.HostGroup} or {@link Transport.DeviceGroup}
 */
final class ReceiverUpdates<G extends Transport.Group> implements AutoCloseable {
    private final GroupTransport<G> transport;
    private final ReceiverPipeline<G> pipeline;
    private final InetAddress senderAddress;
    private final BucketPlan plan;
    private final byte[] fingerprint;
    private final SyncListener listener;
    private final Consumer<Wire.Message> toSender;
    private G group;
    private int epoch = -1;
    private volatile ReceiverState state = new ReceiverState.Empty();

    ReceiverUpdates(GroupTransport<G> transport, ReceiverPipeline<G> pipeline, InetAddress senderAddress,
            BucketPlan plan, SyncListener listener, Consumer<Wire.Message> toSender) {
        this.transport = transport;
        this.pipeline = pipeline;
        this.senderAddress = senderAddress;
        this.plan = plan;
        this.fingerprint = HexFormat.of().parseHex(plan.fingerprint());
        this.listener = listener;
        this.toSender = toSender;
    }

    ReceiverState state() {
        return state;
    }

    long bufferBytes() {
        return pipeline.bufferBytes();
    }

    /**
     * Joins the transport group the sender asked for. However the formation fails, the update it was for fails here
     * too, with the sender's ABORT naming it: at once when the sender aborted first; after reporting GROUP_FAILED
     * when this receiver could not join (its own error is then the cause). A lost connection is a
     * {@link ConnectionLostException}: no update had begun.
     */
    void joinGroup(ReceiverControl.JoinGroup work) {
        Wire.FormGroup request = work.request();
        Attempt attempt = work.attempt();
        String side = "receiver rank " + request.rank();
        if (attempt.failure() != null) {
            throw formationFailed(attempt.failure(), null, side, request.version());
        }
        try {
            discardGroup();
            try (GroupTransport.Formation<G> pending = transport.join(request.rendezvous(), senderAddress,
                    request.rank(), request.worldSize())) {
                attempt.attach(pending::abort);
                group = pending.awaitGroup(work.deadline());
                epoch = request.epoch();
            }
            attempt.attach(group::abort);
            attempt.throwIfFailed(); // an ABORT that came just as the group completed
            toSender.accept(new Wire.GroupReady(request.version()));
        } catch (RuntimeException e) {
            discardGroup();
            Failure standing = attempt.fail(new Failure(FailureReason.GROUP_FAILED, request.rank(), null,
                    "receiver rank " + request.rank() + " could not join the transport group of epoch "
                            + request.epoch() + ": " + e, e));
            if (attempt.notice() == null) {
                toSender.accept(new Wire.Failed(request.version(), FailureReason.GROUP_FAILED, standing.message()));
            }
            // A live sender aborts the update at once (its ABORT may have come while this thread recorded its own
            // failure); should it die instead, the lost connection is the notice.
            Failure notice = attempt.awaitNotice(work.deadline() - System.nanoTime());
            standing = notice != null ? notice : standing;
            throw formationFailed(standing, e, side, request.version());
        }
    }

    private SyncException formationFailed(Failure standing, Exception own, String side, long version) {
        if (standing.cause() instanceof ConnectionLostException lost) {
            if (own != null) {
                lost.addSuppressed(own);
            }
            return lost;
        }
        Failure withCause = standing.cause() != null || own == null ? standing
                : new Failure(standing.reason(), standing.rank(), standing.phase(), standing.message(), own);
        return withCause.toException(side, version, state);
    }

    /** Runs the announced update: READY, every bucket, the commit, DONE. */
    UpdateReport run(ReceiverControl.RunUpdate work) {
        Wire.Begin begin = work.begin();
        Attempt attempt = work.attempt();
        long version = begin.version();
        long start = System.nanoTime();
        int rank = group != null ? group.rank() : UpdateFailedException.UNKNOWN_RANK;
        try {
            attempt.throwIfFailed(); // the sender aborted the update before it started here
            if (!Arrays.equals(begin.fingerprint(), fingerprint)) {
                throw new TransportException(FailureReason.PLAN_MISMATCH, rank, "update " + version + " is for plan "
                        + HexFormat.of().formatHex(begin.fingerprint()) + ", this receiver holds plan "
                        + plan.fingerprint(), null);
            }
            if (group == null || begin.epoch() != epoch) {
                throw new TransportException(FailureReason.STALE, 0, "update " + version + " began for group epoch "
                        + begin.epoch() + ", this receiver is in " + (group == null ? "no group" : "epoch " + epoch),
                        null);
            }
            G g = group;
            attempt.attach(g::abort);
            pipeline.prepare(g, readersDeadline(work.deadline()), attempt::throwIfFailed);
            toSender.accept(new Wire.Ready(version));
            attempt.advance(UpdatePhase.TRANSFER);
            long callsBefore = g.collectiveCalls();
            pipeline.receive(version, g, start, work.deadline(), listener::onBucket);
            attempt.throwIfFailed();
            attempt.advance(UpdatePhase.COMMITTING);
            pipeline.commit(version, work.deadline(), attempt::throwIfFailed);
            if (!attempt.succeed()) {
                attempt.throwIfFailed(); // never commit an update the sender aborted meanwhile
            }
            pipeline.committed(version);
            state = new ReceiverState.Committed(version);
            toSender.accept(new Wire.Done(version));
            UpdateReport report = new UpdateReport(version, rank, transport.name(), plan.totalBucketBytes(),
                    plan.bucketCount(), g.collectiveCalls() - callsBefore, Pipelines.seconds(System.nanoTime() - start),
                    List.of());
            listener.onUpdate(report);
            return report;
        } catch (Exception e) {
            throw failed(attempt, e, rank, work.deadline());
        }
    }

    /**
     * How long the application's readers may keep the memory an update writes: half the time left before the
     * sender's deadline (this receiver's, less the grace), so that a receiver whose readers hold on fails with that
     * cause, and the sender hears it, before the sender's own deadline fails the update for everyone.
     */
    private static long readersDeadline(long deadlineNanos) {
        long now = System.nanoTime();
        return now + Math.max(0, deadlineNanos - ReceiverControl.DEADLINE_GRACE_NANOS - now) / 2;
    }

    /**
     * Settles a failed update: which failure stands, who hears of it, what the weights are now. This rank's own
     * local failure (e.g. its stream's CUDA error) stands here even over the sender's ABORT recorded before it: over
     * NCCL that ABORT is usually its echo, for aborting this rank's communicator fails the peers' collectives at
     * once. It is reported to the sender as this rank's, and the sender then names this rank to everyone.
     */
    private UpdateFailedException failed(Attempt attempt, Exception e, int rank, long deadline) {
        Failure own = Failure.of(e, rank);
        Failure standing = attempt.fail(own);
        if (own.reason() == FailureReason.LOCAL_ERROR && own.rank() == rank && rank >= 0) {
            standing = own.in(attempt.phase());
        }
        if (standing.reason() == FailureReason.PEER_LOST && standing.rank() <= 0) {
            // The sender closed our data connection, so it aborted the update (its ABORT, sent before it closed the
            // connection, names the cause) or it died (the control connection's loss is then the notice): either
            // comes at once however busy this machine is (it may have come while this thread aborted the group),
            // and the deadline bounds the wait.
            Failure notice = attempt.awaitNotice(deadline - System.nanoTime());
            standing = notice != null ? notice : standing;
        }
        if (standing != attempt.notice()) {
            toSender.accept(new Wire.Failed(attempt.version(), standing.reason(), standing.message()));
        }
        if (pipeline.touched()) { // staged: only once applying began, after every bucket had validated
            long last = state instanceof ReceiverState.Committed c ? c.version()
                    : state instanceof ReceiverState.Torn t ? t.lastCommittedVersion() : -1; // cold path: see Failure.of
            state = new ReceiverState.Torn(last, attempt.version(), standing.message());
        }
        discardGroup();
        UpdateFailedException thrown = standing.toException("receiver rank " + rank, attempt.version(), state);
        if (thrown.getCause() != e) {
            thrown.addSuppressed(e);
        }
        return thrown;
    }

    /** Aborts and frees the group; the sender forms a new one for the next update. */
    private void discardGroup() {
        Pipelines.discard(group);
        group = null;
        epoch = -1;
    }

    @Override
    public void close() {
        try {
            discardGroup();
        } finally {
            pipeline.close();
        }
    }
}
