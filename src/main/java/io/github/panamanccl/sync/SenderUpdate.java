package io.github.panamanccl.sync;

import io.github.panamanccl.sync.SenderControl.Member;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * One update as the sender's control thread runs it: an explicit state machine whose transitions happen only on
 * that thread. AWAITING_RECEIVERS until every place is taken; FORMING_GROUP (rendezvous, FORM_GROUP, a GROUP_READY
 * from every receiver and the root's group complete) unless the last group is reused; ANNOUNCING (BEGIN, a READY
 * from every receiver); TRANSFER (the publishing thread broadcasts); ACKNOWLEDGING (a DONE from every receiver);
 * then the {@link Attempt} succeeds. A lost receiver, its FAILED, or the deadline fail it in any phase.
 */
final class SenderUpdate {
    /** How long the data plane's lost peer waits for the control plane's word on it; see {@link #dataPlaneFailed}. */
    static final long PEER_WORD_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

    /** A transport group as the data plane holds it: the epoch it was formed in and its receivers, by rank. */
    record FormedGroup(int epoch, List<Member> members) {
    }

    final Attempt attempt;
    private final long deadline;
    private final Duration deadlineGiven;
    private final int receivers;
    private final byte[] fingerprint;
    private List<Member> ranks = List.of();
    private int epoch;
    private byte[] rendezvous;
    private boolean rootFormed;
    /** Receivers that answered the current phase's request: GROUP_READY while forming, READY while announcing. */
    private final Set<Member> answered = new HashSet<>();
    private final Set<Member> done = new HashSet<>();
    /** The receivers were sent ABORT. */
    private boolean told;
    /** The data plane's lost peer, held until {@link #peerLossHeldUntil} for the control plane's word on it. */
    private Failure peerLoss;
    private long peerLossHeldUntil;

    SenderUpdate(Attempt attempt, long deadline, Duration deadlineGiven, int receivers, byte[] fingerprint) {
        this.attempt = attempt;
        this.deadline = deadline;
        this.deadlineGiven = deadlineGiven;
        this.receivers = receivers;
        this.fingerprint = fingerprint;
    }

    long version() {
        return attempt.version();
    }

    /** When {@link #tick} next has something to do: the deadline, or the end of the wait for a named failure. */
    long nextCheck() {
        return peerLoss != null ? peerLossHeldUntil : deadline;
    }

    UpdatePhase phase() {
        return attempt.phase();
    }

    /** The group this update has formed or reused; null before announcing. */
    FormedGroup group() {
        return phase().compareTo(UpdatePhase.ANNOUNCING) >= 0 ? new FormedGroup(epoch, ranks) : null;
    }

    /**
     * While awaiting receivers: once every place is taken, fixes the ranks (join order) and reuses {@code last} when
     * it holds exactly these receivers, else asks the publishing thread to form a group of epoch {@code nextEpoch}.
     */
    void membersChanged(List<Member> members, FormedGroup last, int nextEpoch, long now) {
        if (phase() != UpdatePhase.AWAITING_RECEIVERS || members.size() < receivers) {
            return;
        }
        ranks = List.copyOf(members.subList(0, receivers));
        for (int i = 0; i < ranks.size(); i++) {
            ranks.get(i).rank = i + 1;
        }
        if (last != null && last.members().equals(ranks)) {
            epoch = last.epoch();
            announce(now);
        } else {
            epoch = nextEpoch;
            attempt.advance(UpdatePhase.FORMING_GROUP);
        }
    }

    /** The epoch a group formed for this update has; meaningful once forming began. */
    int epoch() {
        return epoch;
    }

    /** The publishing thread has opened the rendezvous: every receiver is asked to join it. */
    void rendezvousOpened(byte[] bytes, long now) {
        if (phase() != UpdatePhase.FORMING_GROUP || rendezvous != null) {
            return;
        }
        rendezvous = bytes;
        for (Member m : ranks) {
            m.send(new Wire.FormGroup(version(), epoch, m.rank, receivers + 1, millisLeft(now), bytes), now);
        }
    }

    /** The root's side of the group is complete. */
    void rootFormed(long now) {
        if (phase() == UpdatePhase.FORMING_GROUP) {
            rootFormed = true;
            announceOnceFormed(now);
        }
    }

    void groupReady(Member m, long version, long now) {
        if (version == version() && phase() == UpdatePhase.FORMING_GROUP && ranks.contains(m)) {
            answered.add(m);
            announceOnceFormed(now);
        }
    }

    private void announceOnceFormed(long now) {
        if (rootFormed && answered.size() == ranks.size()) {
            announce(now);
        }
    }

    private void announce(long now) {
        answered.clear();
        attempt.advance(UpdatePhase.ANNOUNCING);
        for (Member m : ranks) {
            m.send(new Wire.Begin(epoch, version(), fingerprint, millisLeft(now)), now);
        }
    }

    void ready(Member m, long version) {
        if (version == version() && phase() == UpdatePhase.ANNOUNCING && ranks.contains(m)) {
            answered.add(m);
            if (answered.size() == ranks.size()) {
                attempt.advance(UpdatePhase.TRANSFER);
            }
        }
    }

    /** The publishing thread has broadcast every bucket. */
    void transferred() {
        if (phase() == UpdatePhase.TRANSFER) {
            attempt.advance(UpdatePhase.ACKNOWLEDGING);
            succeedOnceAcknowledged();
        }
    }

    void done(Member m, long version) {
        UpdatePhase phase = phase();
        if (version == version() && (phase == UpdatePhase.TRANSFER || phase == UpdatePhase.ACKNOWLEDGING)
                && ranks.contains(m)) {
            done.add(m);
            succeedOnceAcknowledged();
        }
    }

    private void succeedOnceAcknowledged() {
        if (phase() == UpdatePhase.ACKNOWLEDGING && done.size() == ranks.size()) {
            attempt.succeed();
        }
    }

    /** A receiver's FAILED: the update fails with the receiver's own reason. */
    void failed(Member m, Wire.Failed report, long now) {
        if (report.version() == version() && ranks.contains(m)) {
            String what = report.reason() == FailureReason.GROUP_FAILED ? " could not join the transport group: "
                    : " reported " + report.reason() + ": ";
            fail(new Failure(report.reason(), m.rank, null, "receiver " + m + what + report.message(), null), now);
        }
    }

    /** A receiver's connection ended; it fails the update unless the receiver had acknowledged it. */
    void lost(Member m, String why, Throwable cause, long now) {
        if (ranks.contains(m) && !done.contains(m)) {
            fail(new Failure(FailureReason.PEER_LOST, m.rank, null, "receiver " + m
                    + " lost its control connection: " + why, cause), now);
        }
    }

    /**
     * The publishing thread's data plane failed with {@code f}. A lost peer is usually followed within a few ms by
     * the control plane's word that says why: the receiver's FAILED with its own reason (a receiver that failed
     * closes its data connection: a broken pipe here), or its lost connection; and it names the rank where the data
     * plane cannot (a killed or aborted peer is ncclRemoteError on every rank). So a lost peer fails the update only
     * if no such word came within {@link #PEER_WORD_WAIT_NANOS} (or by the deadline); any failure before that
     * stands instead.
     */
    void dataPlaneFailed(Failure f, long now) {
        if (f.reason() != FailureReason.PEER_LOST) {
            fail(f, now);
        } else if (peerLoss == null) {
            peerLoss = f;
            peerLossHeldUntil = now + Math.min(PEER_WORD_WAIT_NANOS, deadline - now);
        }
    }

    /**
     * Fails the update with the data plane's lost peer once its wait for the control plane's word is over, or once
     * its deadline has passed, naming what it waited for; {@code waitingForReceivers} says who is missing while
     * receivers are awaited.
     */
    void tick(long now, Supplier<String> waitingForReceivers) {
        if (peerLoss != null && now - peerLossHeldUntil >= 0) {
            fail(peerLoss, now);
            return;
        }
        if (now - deadline < 0) {
            return;
        }
        List<Member> late = new ArrayList<>();
        String detail = switch (phase()) {
            case AWAITING_RECEIVERS -> waitingForReceivers.get();
            case FORMING_GROUP -> {
                late.addAll(ranks);
                late.removeAll(answered);
                yield rendezvous == null ? "the rendezvous of the transport group did not open"
                        : (rootFormed ? "" : "the transport group did not form; ") + describe(late)
                        + " did not report the transport group ready";
            }
            case ANNOUNCING -> {
                late.addAll(ranks);
                late.removeAll(answered);
                yield describe(late) + " did not answer READY";
            }
            case TRANSFER -> "the buckets were not all broadcast";
            case COMMITTING, ACKNOWLEDGING -> {
                late.addAll(ranks);
                late.removeAll(done);
                yield describe(late) + " did not acknowledge (DONE)";
            }
        };
        int rank = late.size() == 1 ? late.getFirst().rank : UpdateFailedException.UNKNOWN_RANK;
        fail(new Failure(FailureReason.DEADLINE, rank, null, "deadline of " + deadlineGiven + " passed: " + detail,
                null), now);
    }

    /**
     * Fails the update with {@code f} unless it has an outcome. Every receiver that heard of the update is told
     * first, and only then is the group aborted: a receiver's ABORT, with the root cause, is on its way before its
     * data connection closes.
     */
    void fail(Failure f, long now) {
        if (!attempt.settled()) {
            tell(f.in(phase()), now);
            attempt.fail(f);
        }
    }

    /** After a failure another thread recorded: the receivers hear it, unless they were told already. */
    void failedElsewhere(long now) {
        Failure f = attempt.failure();
        if (f != null && !told) {
            tell(f, now);
        }
    }

    private void tell(Failure f, long now) {
        told = true;
        if (phase() == UpdatePhase.AWAITING_RECEIVERS) {
            return; // nobody was told of the update
        }
        for (Member m : ranks) {
            m.send(new Wire.Abort(version(), f.reason(), f.rank(), f.message()), now);
        }
    }

    /** The time left, as receivers are told it: rounded up, so that no receiver's deadline is earlier than ours. */
    private long millisLeft(long now) {
        long millis = TimeUnit.MILLISECONDS.toNanos(1);
        return Math.max(1, (deadline - now + millis - 1) / millis);
    }

    private static String describe(List<Member> members) {
        return members.size() == 1 ? "receiver " + members.getFirst() : "receivers " + members;
    }
}
