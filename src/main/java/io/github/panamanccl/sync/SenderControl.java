package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The sender's control plane, owned by its {@link ControlLoop} thread: the handshakes, the members and their
 * places, and the current {@link SenderUpdate}. Nothing here is touched by another thread; the publishing thread
 * posts commands and waits on the update's {@link Attempt}.
 *
 * <p>Joining: an accepted connection has the short handshake deadline to send its JOIN_REQUEST (most
 * {@link #MAX_HANDSHAKES} at once; a newcomer beyond that turns the oldest silent one away with BUSY, so a flood
 * of silent connections cannot keep a receiver out, and never displaces an authenticated one). A valid request
 * reserves a place and gets WELCOME; the place becomes the receiver's when it answers ACCEPT, and is free again
 * at once when it declines (REJECT, with its reason, which is remembered for the messages) or its connection ends.
 */
final class SenderControl implements ControlLoop.Agent {
    /** Largest frame an unauthenticated peer may send: its JOIN_REQUEST. */
    static final int HANDSHAKE_FRAME_BYTES = Wire.MAX_SMALL_FRAME_BYTES;
    /** Unauthenticated connections held at once. */
    static final int MAX_HANDSHAKES = 256;
    /**
     * Connections the kernel may queue for the control thread beside the receivers: a flood's worth, so that a
     * receiver is not refused by the kernel while silent connections pour in.
     */
    static final int BACKLOG = 4 * MAX_HANDSHAKES;
    /** Recent departures and refusals kept to explain missing receivers. */
    private static final int HISTORY = 8;

    /** A receiver that holds a place (joining: WELCOME sent; member: ACCEPT received). */
    static final class Member {
        final long id;
        final String name;
        final Link link;
        final Liveness liveness;
        /** 1.. once an update fixed the ranks; only the control thread writes it. */
        int rank = UpdateFailedException.UNKNOWN_RANK;

        Member(long id, String name, Link link, Liveness liveness) {
            this.id = id;
            this.name = name;
            this.link = link;
            this.liveness = liveness;
        }

        void send(Wire.Message message, long now) {
            liveness.send(link, message, now);
        }

        @Override
        public String toString() {
            return (rank > 0 ? "rank " + rank + " " : "") + "'" + name + "' at " + link.peer();
        }
    }

    private final Clock clock;
    private final SyncOptions options;
    private final int receivers;
    private final long handshakeNanos;
    private final byte[] tokenDigest;
    private final byte[] fingerprint;
    private final String planFingerprint;
    private final byte[] planBytes;
    /** Unauthenticated connections and their handshake deadlines, oldest first. */
    private final LinkedHashMap<Link, Long> handshakes = new LinkedHashMap<>();
    private final Map<Link, Member> joining = new LinkedHashMap<>();
    /** In join order, which is rank order. */
    private final Map<Link, Member> members = new LinkedHashMap<>();
    private final ArrayDeque<String> history = new ArrayDeque<>();
    private long nextMemberId = 1;
    private int epoch;
    /** The group the data plane holds, valid only while the updates over it succeed. */
    private SenderUpdate.FormedGroup group;
    private SenderUpdate update;
    private boolean closed;

    SenderControl(Clock clock, SyncOptions options, int receivers, Duration handshakeTimeout, BucketPlan plan,
            byte[] planBytes) {
        this.clock = clock;
        this.options = options;
        this.receivers = receivers;
        this.handshakeNanos = handshakeTimeout.toNanos();
        this.tokenDigest = Tokens.digest(options.requireToken());
        this.planFingerprint = plan.fingerprint();
        this.fingerprint = HexFormat.of().parseHex(planFingerprint);
        this.planBytes = planBytes;
    }

    // ---- commands from the publishing thread ----

    /** A publish begins; refused at once when the sender is closed. */
    void start(Attempt attempt, long deadline, Duration deadlineGiven) {
        settle(); // the previous update's outcome, should its last command still be on its way
        if (closed) {
            attempt.fail(closedFailure());
            return;
        }
        update = new SenderUpdate(attempt, deadline, deadlineGiven, receivers, fingerprint);
        update.membersChanged(List.copyOf(members.values()), group, epoch + 1, clock.nanoTime());
        settle();
    }

    void rendezvousOpened(Attempt attempt, byte[] bytes) {
        if (isCurrent(attempt)) {
            update.rendezvousOpened(bytes, clock.nanoTime());
        }
    }

    void rootFormed(Attempt attempt) {
        if (isCurrent(attempt)) {
            update.rootFormed(clock.nanoTime());
            settle();
        }
    }

    void transferred(Attempt attempt) {
        if (isCurrent(attempt)) {
            update.transferred();
            settle();
        }
    }

    /**
     * The publishing thread's data plane failed with {@code f}: the update fails (after a short wait for a failure
     * naming the rank when {@code f} names none), and its receivers hear why.
     */
    void dataPlaneFailed(Attempt attempt, Failure f) {
        if (isCurrent(attempt)) {
            update.dataPlaneFailed(f, clock.nanoTime());
            settle();
        }
    }

    /** Receivers holding a place: joined, or checking the plan they were just sent. */
    int connectedReceivers() {
        return members.size() + joining.size();
    }

    private boolean isCurrent(Attempt attempt) {
        return update != null && update.attempt == attempt;
    }

    // ---- the loop's events ----

    @Override
    public void onOpened(Link link) {
        if (closed) {
            link.send(new Wire.Reject(FailureReason.CLOSED, "sender is closing"));
            link.close();
            return;
        }
        if (handshakes.size() >= MAX_HANDSHAKES) {
            Link oldest = handshakes.keySet().iterator().next();
            handshakes.remove(oldest);
            turnAway(oldest, MAX_HANDSHAKES + " connections were handshaking at once and this one was the oldest");
        }
        link.maxFrameBytes(HANDSHAKE_FRAME_BYTES);
        handshakes.put(link, clock.nanoTime() + handshakeNanos);
    }

    @Override
    public void onFrame(Link link, Wire.Message message) {
        long now = clock.nanoTime();
        if (handshakes.remove(link) != null) {
            handshake(link, message, now);
            return;
        }
        Member joiner = joining.get(link);
        if (joiner != null) {
            joiner.liveness.heard(now);
            joinerAnswered(joiner, message, now);
            return;
        }
        Member member = members.get(link);
        if (member == null) {
            return;
        }
        member.liveness.heard(now);
        switch (message) {
            case Wire.Heartbeat h -> {
                // heard
            }
            case Wire.GroupReady g -> onUpdate(u -> u.groupReady(member, g.version(), now));
            case Wire.Ready r -> onUpdate(u -> u.ready(member, r.version()));
            case Wire.Done d -> onUpdate(u -> u.done(member, d.version()));
            case Wire.Failed f -> onUpdate(u -> u.failed(member, f, now));
            default -> {
                String what = "sent " + message.getClass().getSimpleName() + ", which only a sender sends";
                members.remove(link);
                link.send(new Wire.Reject(FailureReason.PROTOCOL, what));
                link.close();
                left(member, what, null);
            }
        }
    }

    @Override
    public void onLost(Link link, Exception cause) {
        String why = cause.getClass().getSimpleName() + ": " + cause.getMessage();
        if (cause instanceof ProtocolException) {
            link.send(new Wire.Reject(FailureReason.PROTOCOL, cause.getMessage()));
        }
        if (handshakes.remove(link) != null) {
            if (cause instanceof ProtocolException) {
                rejected(link.peer(), FailureReason.PROTOCOL, cause.getMessage());
            }
            return;
        }
        Member joiner = joining.remove(link);
        if (joiner != null) {
            remember("receiver " + joiner + " left during its join (" + why + ")");
            return;
        }
        Member member = members.remove(link);
        if (member != null) {
            left(member, why, cause);
        }
    }

    @Override
    public long onTick(long now) {
        long next = Long.MAX_VALUE;
        for (Iterator<Map.Entry<Link, Long>> it = handshakes.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Link, Long> oldest = it.next();
            if (now - oldest.getValue() < 0) {
                next = oldest.getValue();
                break;
            }
            it.remove();
            turnAway(oldest.getKey(), "no join request within the handshake deadline of "
                    + TimeUnit.NANOSECONDS.toMillis(handshakeNanos) + " ms");
        }
        for (Member m : List.copyOf(joining.values())) {
            String dead = m.liveness.check(m.link, now);
            if (dead != null) {
                joining.remove(m.link);
                m.link.close();
                remember("receiver " + m + " left during its join: its connection is " + dead);
            } else {
                next = Math.min(next, m.liveness.nextCheck(m.link));
            }
        }
        for (Member m : List.copyOf(members.values())) {
            String dead = m.liveness.check(m.link, now);
            if (dead != null) {
                members.remove(m.link);
                m.link.close();
                left(m, "its connection is " + dead, null);
            } else {
                next = Math.min(next, m.liveness.nextCheck(m.link));
            }
        }
        if (update != null) {
            update.tick(now, this::missingReceivers);
            settle();
        }
        return update == null ? next : Math.min(next, update.nextCheck());
    }

    @Override
    public void onStop() {
        closed = true;
        if (update != null) {
            update.fail(closedFailure(), clock.nanoTime());
            settle();
        }
        for (Link link : List.copyOf(handshakes.keySet())) {
            link.close();
        }
        for (Member m : List.copyOf(joining.values())) {
            m.link.close();
        }
        for (Member m : List.copyOf(members.values())) {
            m.link.close();
        }
        handshakes.clear();
        joining.clear();
        members.clear();
    }

    // ---- joining ----

    private void handshake(Link link, Wire.Message message, long now) {
        if (!(message instanceof Wire.JoinRequest request)) {
            reject(link, FailureReason.PROTOCOL, "expected JoinRequest, got " + message.getClass().getSimpleName());
        } else if (request.protocolVersion() != Wire.PROTOCOL_VERSION) {
            reject(link, FailureReason.PROTOCOL, "joinRequest.protocolVersion is " + request.protocolVersion()
                    + ", this sender speaks " + Wire.PROTOCOL_VERSION);
        } else if (!Tokens.matches(tokenDigest, request.token())) {
            reject(link, FailureReason.WRONG_TOKEN, "the token does not match the sender's");
        } else if (request.expectedFingerprint().length > 0
                && !Arrays.equals(request.expectedFingerprint(), fingerprint)) {
            reject(link, FailureReason.PLAN_MISMATCH, "receiver expects plan "
                    + HexFormat.of().formatHex(request.expectedFingerprint()) + ", sender has plan " + planFingerprint);
        } else if (closed) {
            reject(link, FailureReason.CLOSED, "sender is closing");
        } else if (members.size() + joining.size() >= receivers) {
            List<Member> holders = new ArrayList<>(members.values());
            holders.addAll(joining.values());
            reject(link, FailureReason.GROUP_FULL, "all " + receivers + " receiver places are taken, by "
                    + describe(holders));
        } else {
            Member joiner = new Member(nextMemberId++, request.name(), link, new Liveness(now,
                    options.ioTimeout().toNanos()));
            joining.put(link, joiner);
            link.maxFrameBytes(options.maxFrameBytes());
            joiner.send(new Wire.Welcome(joiner.id, options.transport().name(), fingerprint, planBytes), now);
        }
    }

    private void joinerAnswered(Member joiner, Wire.Message message, long now) {
        switch (message) {
            case Wire.Accept a -> {
                joining.remove(joiner.link);
                members.put(joiner.link, joiner);
                onUpdate(u -> u.membersChanged(List.copyOf(members.values()), group, epoch + 1, now));
            }
            case Wire.Reject r -> {
                joining.remove(joiner.link);
                joiner.link.close();
                String what = "receiver " + joiner + " declined the plan (" + r.reason() + "): " + r.message();
                remember(what);
                rejected(joiner.link.peer(), r.reason(), "the receiver declined: " + r.message());
            }
            case Wire.Heartbeat h -> {
                // heard
            }
            default -> {
                joining.remove(joiner.link);
                reject(joiner.link, FailureReason.PROTOCOL, "expected Accept or Reject, got "
                        + message.getClass().getSimpleName());
            }
        }
    }

    private void reject(Link link, FailureReason reason, String message) {
        link.send(new Wire.Reject(reason, message));
        link.close();
        rejected(link.peer(), reason, message);
    }

    /** A typed "busy, retry" for a connection that held a handshake place without using it. */
    private static void turnAway(Link link, String why) {
        link.send(new Wire.Reject(FailureReason.BUSY, why));
        link.close();
    }

    private void rejected(String peer, FailureReason reason, String message) {
        try {
            options.listener().onJoinRejected(peer, reason, message);
        } catch (RuntimeException e) {
            System.getLogger(SenderControl.class.getName()).log(System.Logger.Level.WARNING,
                    "SyncListener.onJoinRejected failed", e);
        }
    }

    // ---- members and the update ----

    private void left(Member member, String why, Throwable cause) {
        remember("receiver " + member + " left (" + why + ")");
        if (update != null) {
            update.lost(member, why, cause, clock.nanoTime());
            settle();
        }
    }

    private void onUpdate(java.util.function.Consumer<SenderUpdate> event) {
        if (update != null) {
            event.accept(update);
            settle();
        }
    }

    /** Ends the update once it has an outcome: a success keeps its group; a failure is told to its receivers. */
    private void settle() {
        if (update == null) {
            return;
        }
        if (update.phase() == UpdatePhase.FORMING_GROUP) {
            epoch = update.epoch();
        }
        if (update.attempt.succeeded()) {
            group = update.group();
            update = null;
        } else if (update.attempt.failure() != null) {
            update.failedElsewhere(clock.nanoTime());
            group = null;
            update = null;
        }
    }

    private String missingReceivers() {
        StringBuilder text = new StringBuilder("only " + members.size() + " of " + receivers + " receivers are "
                + "connected" + (members.isEmpty() ? "" : " (" + describe(members.values()) + ")") + "; "
                + (receivers - members.size()) + " missing");
        if (!joining.isEmpty()) {
            text.append(", of which ").append(joining.size()).append(" still checking the plan (")
                    .append(describe(joining.values())).append(")");
        }
        text.append(history.isEmpty() ? ": no other receiver has joined" : "; recently: " + String.join("; ", history));
        return text.toString();
    }

    private static String describe(java.util.Collection<Member> members) {
        return String.join(", ", members.stream().map(Member::toString).toList());
    }

    private void remember(String event) {
        if (history.size() == HISTORY) {
            history.removeFirst();
        }
        history.addLast(event);
    }

    private Failure closedFailure() {
        String when = update == null || update.phase() != UpdatePhase.AWAITING_RECEIVERS ? "during the update"
                : "while the update waited for receivers (" + members.size() + " of " + receivers + " connected)";
        return new Failure(FailureReason.CLOSED, 0, null, "the sender was closed " + when, null);
    }
}
