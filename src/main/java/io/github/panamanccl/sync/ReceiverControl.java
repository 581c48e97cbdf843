package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.PlanFormatException;

import java.io.IOException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.concurrent.BlockingDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The receiver's control plane, owned by its {@link ControlLoop} thread: the one reader of the connection. It
 * writes the join request and heartbeats, enforces the silence rule, and turns FORM_GROUP and BEGIN into
 * {@link Work} created together with their {@link Attempt} on arrival, which the application thread runs in
 * {@code awaitUpdate}. An ABORT fails its attempt at once, whether the application has started it yet or not,
 * and so does the loss of the connection; the update's own deadline (the sender's, plus a grace) is checked here.
 */
final class ReceiverControl implements ControlLoop.Agent {
    /**
     * Added to the deadline the sender announces (time left, rounded up, counted from the announcement's arrival):
     * the sender decides that an update is late and tells every receiver so; a receiver fails the update on its own
     * only when the sender has gone silent this long past that deadline.
     */
    static final long DEADLINE_GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);

    /** What the application thread does next, handed over in arrival order. */
    sealed interface Work permits JoinGroup, RunUpdate, Disconnected {
    }

    /** Form the transport group the sender asked for; {@code deadline} is the formation's (clock nanos). */
    record JoinGroup(Wire.FormGroup request, Attempt attempt, long deadline) implements Work {
    }

    /** Run the announced update. */
    record RunUpdate(Wire.Begin begin, Attempt attempt, long deadline) implements Work {
    }

    /** The connection is gone; every later {@code awaitUpdate} reports it. */
    record Disconnected(String message, Throwable cause) implements Work {
        /** A fresh exception for each report: the sender broke the protocol, or the connection was lost. */
        SyncException exception() {
            return cause instanceof ProtocolException ? new ProtocolException(message, cause)
                    : new ConnectionLostException(message, cause);
        }
    }

    private final Clock clock;
    private final SyncOptions options;
    private final String sender;
    private final Wire.JoinRequest request;
    private final long joinDeadline;
    private final Duration joinTimeout;
    private final CompletableFuture<Wire.Welcome> welcome = new CompletableFuture<>();
    private final BlockingDeque<Work> work = new LinkedBlockingDeque<>();
    private Link link;
    private Liveness liveness;
    private boolean gone;
    private Attempt current;
    /** The current attempt announced BEGIN (a FORM_GROUP's attempt is followed by the BEGIN of its version). */
    private boolean begun;
    private long currentDeadline;
    private long announcedMillis;
    private long lastVersion = Long.MIN_VALUE;

    ReceiverControl(Clock clock, SyncOptions options, String sender, Wire.JoinRequest request, Duration joinTimeout) {
        this.clock = clock;
        this.options = options;
        this.sender = sender;
        this.request = request;
        this.joinTimeout = joinTimeout;
        this.joinDeadline = clock.nanoTime() + joinTimeout.toNanos();
    }

    // ---- for the application thread ----

    /**
     * The sender's WELCOME; waits (the control thread ends the wait by the join timeout).
     *
     * @throws JoinRejectedException   the sender refused
     * @throws ProtocolException       the sender's answer was malformed or too large
     * @throws ConnectionLostException the sender could not be reached, or did not answer in time
     */
    Wire.Welcome awaitWelcome() {
        try {
            return welcome.get(joinTimeout.toNanos() + TimeUnit.SECONDS.toNanos(5), TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            throw (SyncException) e.getCause();
        } catch (TimeoutException e) {
            throw new ConnectionLostException("the control thread did not finish the join with " + sender, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SyncException("interrupted while joining " + sender, e);
        }
    }

    /**
     * The plan the sender's WELCOME carries, checked against its fingerprint, this receiver's transport and the plan
     * it expects; waits like {@link #awaitWelcome}.
     *
     * @throws ProtocolException     the plan does not decode (naming the field), or does not match its fingerprint,
     *                               or the sender uses another transport
     * @throws JoinRejectedException the sender's plan is not the one this receiver expects
     */
    BucketPlan awaitPlan() {
        Wire.Welcome welcome = awaitWelcome();
        if (!welcome.transport().equals(options.transport().name())) {
            throw new ProtocolException("sender uses transport '" + welcome.transport() + "', this receiver '"
                    + options.transport().name() + "'");
        }
        BucketPlan plan;
        try {
            plan = PlanCodec.decode(welcome.plan());
        } catch (PlanFormatException e) {
            throw new ProtocolException("welcome.plan is not a valid bucket plan: field " + e.field() + " = "
                    + e.value() + ": " + e.reason(), e);
        }
        byte[] fingerprint = HexFormat.of().parseHex(plan.fingerprint());
        if (!Arrays.equals(fingerprint, welcome.fingerprint())) {
            throw new ProtocolException("welcome.fingerprint does not match the plan it carries");
        }
        byte[] expected = request.expectedFingerprint();
        if (expected.length > 0 && !Arrays.equals(expected, fingerprint)) {
            throw new JoinRejectedException(FailureReason.PLAN_MISMATCH, "expected plan "
                    + HexFormat.of().formatHex(expected) + ", sender has " + plan.fingerprint());
        }
        return plan;
    }

    /** The next work item, or null when none arrives within {@code timeoutNanos}; {@link Disconnected} stays. */
    Work nextWork(long timeoutNanos) throws InterruptedException {
        Work next = work.poll(timeoutNanos, TimeUnit.NANOSECONDS);
        if (next instanceof Disconnected) {
            work.addFirst(next);
        }
        return next;
    }

    // ---- commands (posted by the application thread) ----

    void send(Wire.Message message) {
        if (link != null && !gone) {
            liveness.send(link, message, clock.nanoTime());
        }
    }

    /**
     * This receiver turns the plan down because of {@code why}: the sender frees its place at once and hears the
     * reason (nothing is sent when the sender refused first, or the connection has ended).
     */
    void decline(Throwable why) {
        if (why instanceof JoinRejectedException rejected) {
            send(new Wire.Reject(rejected.reason(), rejected.detail()));
        } else {
            send(new Wire.Reject(why instanceof ProtocolException ? FailureReason.PROTOCOL : FailureReason.LOCAL_ERROR,
                    String.valueOf(why.getMessage())));
        }
    }

    // ---- the loop's events ----

    @Override
    public void onOpened(Link opened) {
        link = opened;
        link.maxFrameBytes(options.maxFrameBytes());
        liveness = new Liveness(clock.nanoTime(), options.ioTimeout().toNanos());
        send(request);
    }

    @Override
    public void onFrame(Link from, Wire.Message message) {
        if (gone) {
            return;
        }
        long now = clock.nanoTime();
        liveness.heard(now);
        if (!welcome.isDone()) {
            switch (message) {
                case Wire.Welcome w -> {
                    link.maxFrameBytes(Wire.MAX_SMALL_FRAME_BYTES); // the plan was the one large frame
                    welcome.complete(w);
                }
                case Wire.Reject r -> end(new JoinRejectedException(r.reason(), r.message()));
                case Wire.Heartbeat h -> {
                    // heard
                }
                default -> refuse("expected Welcome, got " + message.getClass().getSimpleName());
            }
            return;
        }
        switch (message) {
            case Wire.FormGroup g -> {
                if (announced(g.version(), false)) {
                    current = new Attempt(g.version(), UpdatePhase.FORMING_GROUP);
                    begun = false;
                    arm(now, g.timeoutMillis());
                    work.add(new JoinGroup(g, current, currentDeadline));
                }
            }
            case Wire.Begin b -> {
                if (announced(b.version(), true)) {
                    if (current == null || current.version() != b.version()) {
                        current = new Attempt(b.version(), UpdatePhase.ANNOUNCING);
                    } else {
                        current.advance(UpdatePhase.ANNOUNCING);
                    }
                    begun = true;
                    arm(now, b.deadlineMillis());
                    work.add(new RunUpdate(b, current, currentDeadline));
                }
            }
            case Wire.Abort a -> {
                if (current != null && current.version() == a.version()) {
                    current.noticed(Failure.fromSender(a));
                }
            }
            case Wire.Reject r -> end(new ProtocolException("sender refused our traffic (" + r.reason() + "): "
                    + r.message()));
            case Wire.Heartbeat h -> {
                // heard
            }
            default -> refuse("unexpected " + message.getClass().getSimpleName() + " from the sender");
        }
    }

    /**
     * Whether {@code version} may be announced now: a version is announced once (a BEGIN may follow the FORM_GROUP
     * of its own version). Otherwise the sender broke the protocol and the connection ends.
     */
    private boolean announced(long version, boolean begin) {
        boolean ownGroup = begin && !begun && current != null && current.version() == version;
        if (version > lastVersion || ownGroup) {
            lastVersion = version;
            return true;
        }
        refuse((begin ? "begin" : "formGroup") + ".version " + version + " was announced before (the last was "
                + lastVersion + ")");
        return false;
    }

    private void arm(long now, long millis) {
        announcedMillis = millis;
        currentDeadline = now + TimeUnit.MILLISECONDS.toNanos(millis) + DEADLINE_GRACE_NANOS;
    }

    @Override
    public void onLost(Link lost, Exception cause) {
        if (cause instanceof ProtocolException && link != null) {
            link.send(new Wire.Reject(FailureReason.PROTOCOL, cause.getMessage()));
        }
        if (link == null) {
            end(new ConnectionLostException("cannot connect to sender " + sender + ": " + cause, cause));
        } else {
            end(cause);
        }
    }

    @Override
    public long onTick(long now) {
        if (gone) {
            return Long.MAX_VALUE;
        }
        if (!welcome.isDone() && now - joinDeadline >= 0) {
            end(new ConnectionLostException("sender " + sender + " did not answer the join within " + joinTimeout,
                    null));
            return Long.MAX_VALUE;
        }
        long next = welcome.isDone() ? Long.MAX_VALUE : joinDeadline;
        if (link != null) {
            String dead = liveness.check(link, now);
            if (dead != null) {
                end(new IOException("the sender is " + dead));
                return Long.MAX_VALUE;
            }
            next = Math.min(next, liveness.nextCheck(link));
        }
        if (current != null && !current.settled()) {
            if (now - currentDeadline >= 0) {
                current.fail(new Failure(FailureReason.DEADLINE, UpdateFailedException.UNKNOWN_RANK, null,
                        "the sender's deadline of " + announcedMillis + " ms passed "
                                + TimeUnit.NANOSECONDS.toMillis(DEADLINE_GRACE_NANOS)
                                + " ms ago without word from the sender", null));
            } else {
                next = Math.min(next, currentDeadline);
            }
        }
        return next;
    }

    @Override
    public void onStop() {
        end(new IOException("this receiver was closed"));
    }

    /** Refuses the sender's traffic: a last REJECT, then the connection ends. */
    private void refuse(String why) {
        link.send(new Wire.Reject(FailureReason.PROTOCOL, why));
        end(new ProtocolException(why));
    }

    /**
     * The connection ends, once: a join in progress fails with {@code cause} (typed), an update in progress fails as
     * the sender's loss, and the application hears {@link Disconnected} next.
     */
    private void end(Exception cause) {
        if (gone) {
            return;
        }
        gone = true;
        if (link != null) {
            link.close();
        }
        if (!welcome.isDone()) {
            welcome.completeExceptionally(cause instanceof SyncException typed ? typed
                    : new ConnectionLostException("join handshake with " + sender + " failed: " + cause, cause));
            return;
        }
        String what = "control connection to the sender " + sender + " lost: " + (cause instanceof SyncException
                ? cause.getMessage() : cause.getClass().getSimpleName() + ": " + cause.getMessage());
        if (current != null) {
            current.noticed(new Failure(FailureReason.PEER_LOST, 0, null, what, new ConnectionLostException(what,
                    cause)));
        }
        work.add(new Disconnected(what, cause));
    }
}
