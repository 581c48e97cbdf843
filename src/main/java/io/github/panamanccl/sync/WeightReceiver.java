package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.PlanFormatException;
import io.github.panamanccl.sync.Wire.Abort;
import io.github.panamanccl.sync.Wire.Begin;
import io.github.panamanccl.sync.Wire.Done;
import io.github.panamanccl.sync.Wire.Failed;
import io.github.panamanccl.sync.Wire.Group;
import io.github.panamanccl.sync.Wire.GroupFailed;
import io.github.panamanccl.sync.Wire.GroupReady;
import io.github.panamanccl.sync.Wire.Hello;
import io.github.panamanccl.sync.Wire.Message;
import io.github.panamanccl.sync.Wire.Ready;
import io.github.panamanccl.sync.Wire.Reason;
import io.github.panamanccl.sync.Wire.Reject;
import io.github.panamanccl.sync.Wire.Welcome;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The engine side: joins a {@link WeightSender}, learns the plan, and applies updates either by scattering each
 * bucket into destination tensors registered up front ({@link Builder#scatterInto}) or by handing each bucket to
 * the application ({@link Builder#deliverTo}). Allocates only its bucket buffers ({@link CommitMode#IN_PLACE})
 * or one staging area ({@link CommitMode#STAGED}), never a second copy of every tensor besides that.
 *
 * <pre>{@code
 * try (WeightReceiver receiver = WeightReceiver.builder().sender("trainer", 29500).token(secret)
 *         .commitMode(CommitMode.STAGED).scatterInto(weightsByName).join()) {
 *     while (running) {
 *         receiver.awaitUpdate(Duration.ofMinutes(5)).ifPresent(r -> log(r.version()));
 *     }
 * }
 * }</pre>
 *
 * <p>The application calls {@link #awaitUpdate} in a loop (typically on the engine's weight-sync thread):
 * forming and re-forming the transport group and running each update both happen inside it. Its
 * {@link #state()} changes only at the end of an update; an in-place failure makes it {@link ReceiverState.Torn},
 * and every failure throws, so a torn receiver cannot go unnoticed.
 */
public final class WeightReceiver implements AutoCloseable {
    /**
     * Time a failing receiver waits for the sender's ABORT notice to learn the root cause (the sender closes the
     * data connections first, then sends it). This is the slack a receiver may take past the deadline.
     */
    private static final long ABORT_NOTICE_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
    /**
     * Added to the deadline the sender announces (time left, rounded up, counted from the announcement's arrival):
     * the sender decides that an update is late, and tells every receiver so; a receiver fails the update on its own
     * only when the sender has gone silent this long past that deadline. Without it a receiver's watchdog could fire
     * first, close its data connection, and make the sender report a broken pipe instead of the deadline.
     */
    static final long DEADLINE_GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final ControlConnection connection;
    private final InetAddress senderAddress;
    private final BucketPlan plan;
    private final byte[] fingerprint;
    private final Transport transport;
    private final CommitMode mode;
    private final SyncListener listener;
    private final ReceiverPipeline pipeline;
    /** Heartbeats; one to a sender that does not read may block its thread up to the I/O timeout. */
    private final ScheduledExecutorService scheduler;
    /** Deadline watchdogs, on a thread of their own so that a blocked heartbeat cannot delay one. */
    private final ScheduledExecutorService deadlines = Executors.newSingleThreadScheduledExecutor(
            task -> Thread.ofPlatform().daemon().name("sync-receiver-deadline").unstarted(task));
    private final Object updateLock = new Object();
    private volatile ReceiverState state = new ReceiverState.Empty();
    /**
     * Updates the sender has announced (BEGIN), by version, from the BEGIN's arrival on the control thread until
     * runUpdate has finished them: an ABORT that comes before the update thread starts one is not lost.
     */
    private final Map<Long, Running> announced = new ConcurrentHashMap<>();
    /** The group formation the latest GROUP message asked for, from its arrival until formGroup has finished it. */
    private final AtomicReference<Formation> formation = new AtomicReference<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    // Group state, guarded by updateLock.
    private Transport.Group group;
    private int epoch = -1;

    private WeightReceiver(ControlConnection connection, InetAddress senderAddress, BucketPlan plan, byte[] fingerprint,
            Builder b, ScheduledExecutorService scheduler) {
        this.connection = connection;
        this.senderAddress = senderAddress;
        this.plan = plan;
        this.fingerprint = fingerprint;
        this.transport = b.transport;
        this.mode = b.mode;
        this.listener = b.listener;
        this.scheduler = scheduler;
        this.pipeline = pipelineFor(plan, b);
    }

    /**
     * A new builder; {@code sender}, {@code token} and exactly one of {@code scatterInto}, {@code scatterIntoDevice}
     * or {@code deliverTo} are required.
     */
    public static Builder builder() {
        return new Builder();
    }

    private static ReceiverPipeline pipelineFor(BucketPlan plan, Builder b) {
        return switch (b.transport) {
            case NcclTransport nccl -> {
                if (b.deviceDestinations == null) {
                    throw new IllegalStateException("the nccl transport needs scatterIntoDevice(...) (delivered mode "
                            + "is host-only)");
                }
                yield new DeviceReceiverPipeline(plan, nccl.device(), b.mode,
                        Tensors.resolveDevice(plan, b.deviceDestinations, "destination"));
            }
            case HostTcpTransport _ -> {
                if (b.deviceDestinations != null) {
                    throw new IllegalStateException("device destinations need the nccl transport");
                }
                HostReceiverPipeline.Applier applier = b.consumer != null
                        ? HostReceiverPipeline.deliverTo(plan, b.consumer)
                        : HostReceiverPipeline.scatterInto(plan, Tensors.resolve(plan, b.destinations, "destination"));
                yield new HostReceiverPipeline(plan, b.mode, applier);
            }
        };
    }

    /** The plan learned from the sender. */
    public BucketPlan plan() {
        return plan;
    }

    /** What the weights are now; see {@link ReceiverState#requireCommitted()}. */
    public ReceiverState state() {
        return state;
    }

    /** Bytes held for bucket buffers or staging (host or device memory, by transport). */
    public long bufferBytes() {
        return pipeline.bufferBytes();
    }

    /**
     * Serves the sender until one update has completed or failed, or {@code maxWait} passes without an update
     * beginning. Group (re-)formation requested by the sender happens inside.
     *
     * @return the committed update's report; empty when no update began within {@code maxWait}
     * @throws UpdateFailedException   the update failed, or its transport group could not be formed (the sender
     *                                 aborted it meanwhile, or this receiver could not join: then the cause is this
     *                                 receiver's own failure); {@link UpdateFailedException#receiverState()} says
     *                                 whether the weights are intact or torn
     * @throws ConnectionLostException the sender is gone; join again
     * @throws ProtocolException       the sender broke the protocol (e.g. refused our traffic, or did not abort the
     *                                 update after this receiver failed to join its group)
     */
    public Optional<UpdateReport> awaitUpdate(Duration maxWait) {
        long waitUntil = System.nanoTime() + maxWait.toNanos();
        synchronized (updateLock) {
            if (closed.get()) {
                throw new IllegalStateException("receiver is closed");
            }
            while (true) {
                Message message = connection.poll(waitUntil);
                switch (message) {
                    case null -> {
                        return Optional.empty();
                    }
                    case Group g -> formGroup(g);
                    case Begin b -> {
                        return Optional.of(runUpdate(b));
                    }
                    case Reject r -> throw new ProtocolException("sender refused our traffic (" + r.reason() + "): "
                            + r.message());
                    default -> {
                        // ABORT of an update already reported, or other stale traffic
                    }
                }
            }
        }
    }

    /**
     * Joins the transport group the sender asked for. Either way the formation fails, the update it was for fails
     * here too, with the sender's ABORT naming it: one the sender aborted (its ABORT arrived meanwhile) at once; one
     * that fails on its own is first reported to the sender (GROUP_FAILED), which fails the update and answers with
     * that ABORT.
     */
    private void formGroup(Group g) {
        Formation current = formation.get();
        if (current == null || current.epoch() != g.epoch()) {
            return; // a later GROUP has arrived: the sender gave up on this group
        }
        closeGroup();
        long groupDeadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(g.timeoutMillis())
                + DEADLINE_GRACE_NANOS;
        try (Transport.PendingGroup pending = transport.join(g.rendezvous(), senderAddress, g.rank(), g.worldSize())) {
            current.attach(pending);
            group = pending.awaitGroup(groupDeadlineNanos);
            epoch = g.epoch();
            current.throwIfAbortedBySender();
            connection.send(new GroupReady(g.epoch()));
        } catch (IOException | RuntimeException e) {
            closeGroup();
            if (current.notice() == null) {
                connection.sendQuietly(new GroupFailed(g.epoch(), e.toString()));
            }
            // A live sender aborts by its deadline at the latest; the slack is for the ABORT to arrive.
            throw formationFailed(g, e, current.awaitNotice(groupDeadlineNanos + ABORT_NOTICE_WAIT_NANOS));
        } finally {
            formation.compareAndSet(current, null);
        }
    }

    /** The exception for a formation that failed with {@code e}; {@code notice} is the sender's ABORT, if any. */
    private SyncException formationFailed(Group g, Exception e, Abort notice) {
        if (notice != null) {
            return new Failure(notice.reason(), notice.failedRank(), "sender aborted while the transport group "
                    + "formed: " + notice.message(), e).toException("receiver rank " + g.rank(), g.rank(), notice.version(), state);
        }
        String what = "this receiver (rank " + g.rank() + ") could not join the transport group of epoch " + g.epoch()
                + ": " + e;
        if (!connection.isOpen()) {
            ConnectionLostException lost = new ConnectionLostException("control connection to the sender lost after "
                    + what, connection.lostCause());
            lost.addSuppressed(e);
            return lost;
        }
        return new ProtocolException("the sender did not abort the update after " + what, e);
    }

    private UpdateReport runUpdate(Begin begin) {
        // Registered by the control thread when the BEGIN arrived, so it already holds any ABORT sent since.
        Running current = announced.computeIfAbsent(begin.version(), Running::new);
        try {
            return runUpdate(begin, current);
        } finally {
            announced.remove(begin.version(), current);
        }
    }

    private UpdateReport runUpdate(Begin begin, Running current) {
        long start = System.nanoTime();
        long version = begin.version();
        long deadlineNanos = start + TimeUnit.MILLISECONDS.toNanos(begin.deadlineMillis()) + DEADLINE_GRACE_NANOS;
        int rank = group != null ? group.rank() : UpdateFailedException.UNKNOWN_RANK;
        if (!Arrays.equals(begin.fingerprint(), fingerprint)) {
            String text = "update " + version + " is for plan " + HexFormat.of().formatHex(begin.fingerprint())
                    + ", this receiver holds plan " + plan.fingerprint();
            connection.sendQuietly(new Failed(version, Reason.PLAN_MISMATCH, text));
            throw new PlanMismatchException("receiver: " + text, version, rank, state, null);
        }
        if (group == null || begin.epoch() != epoch) {
            String text = "update " + version + " began for group epoch " + begin.epoch() + ", this receiver is in "
                    + (group == null ? "no group" : "epoch " + epoch);
            connection.sendQuietly(new Failed(version, Reason.STALE, text));
            throw new PeerFailedException("receiver: " + text, version, 0, state, null);
        }
        current.attach(group);
        ScheduledFuture<?> watchdog = deadlines.schedule(() -> current.fail(new Failure(Reason.DEADLINE,
                UpdateFailedException.UNKNOWN_RANK, "the sender's deadline of " + begin.deadlineMillis() + " ms passed "
                + TimeUnit.NANOSECONDS.toMillis(DEADLINE_GRACE_NANOS) + " ms ago without word from the sender", null), false),
                deadlineNanos - System.nanoTime(), TimeUnit.NANOSECONDS);
        try {
            current.throwIfFailed(); // the sender aborted this update before it started here
            connection.send(new Ready(version));
            long callsBefore = group.collectiveCalls();
            pipeline.receive(version, group, rank, start, deadlineNanos, listener::onBucket);
            current.throwIfFailed();
            pipeline.applyStaged(version, deadlineNanos, current::throwIfFailed);
            current.throwIfFailed(); // never commit an update the sender aborted meanwhile
            state = new ReceiverState.Committed(version);
            connection.send(new Done(version));
            UpdateReport report = new UpdateReport(version, rank, transport.name(), plan.totalBucketBytes(),
                    plan.bucketCount(), group.collectiveCalls() - callsBefore,
                    Pipelines.seconds(System.nanoTime() - start), List.of());
            listener.onUpdate(report);
            return report;
        } catch (Exception e) {
            throw fail(current, e, rank, deadlineNanos);
        } finally {
            watchdog.cancel(false);
        }
    }

    /** Records the outcome of a failed update and builds the exception to throw. */
    private UpdateFailedException fail(Running current, Exception e, int rank, long deadlineNanos) {
        boolean ownFailure = current.failure.get() == null;
        Failure failure = ownFailure ? Failure.of(e, rank) : current.failure.get();
        if (!(e instanceof UpdateFailedException) && failure.reason() == Reason.PEER_LOST && failure.rank() <= 0) {
            // The sender closed our data connection: it aborted (its notice names the cause) or it died.
            Failure notice = current.awaitNotice(System.nanoTime() + ABORT_NOTICE_WAIT_NANOS);
            if (notice != null) {
                failure = notice;
                ownFailure = false;
            }
        }
        ReceiverState before = state;
        if (pipeline.touched()) { // staged: only once applying began, after every bucket had validated
            long last = before instanceof ReceiverState.Committed c ? c.version()
                    : before instanceof ReceiverState.Torn t ? t.lastCommittedVersion() : -1;
            state = new ReceiverState.Torn(last, current.version, failure.message());
        }
        if (ownFailure) {
            connection.sendQuietly(new Failed(current.version, failure.reason(), failure.message()));
        }
        closeGroup();
        UpdateFailedException thrown = failure.toException("receiver rank " + rank, rank, current.version, state);
        if (thrown.getCause() != e) {
            thrown.addSuppressed(e);
        }
        return thrown;
    }

    private void closeGroup() {
        Transport.Group g = group;
        group = null;
        epoch = -1;
        if (g != null) {
            g.abort();
            g.close();
        }
    }

    /**
     * Sender-side notices while an update runs or its group forms: an ABORT or a lost connection ends the transfer,
     * or the formation, at once.
     */
    private final class Handler implements ControlConnection.Handler {
        @Override
        public void onMessage(ControlConnection c, Message message) {
            switch (message) {
                // Here, before awaitUpdate takes the GROUP or BEGIN from the inbox, so that an ABORT right behind it
                // is not lost.
                case Group g -> formation.set(new Formation(g.epoch()));
                case Begin b -> announced.putIfAbsent(b.version(), new Running(b.version()));
                case Abort a -> {
                    Running update = announced.get(a.version());
                    if (update != null) { // running, or announced and not yet started
                        update.fail(new Failure(a.reason(), a.failedRank(), "sender aborted: " + a.message(), null),
                                true);
                        return;
                    }
                    Formation forming = formation.get();
                    if (forming != null) {
                        // The group forms for the update this ABORT ends: the sender aborts only the update in
                        // flight, and an earlier update's ABORT was handled before the GROUP of this formation.
                        forming.abort(a);
                    }
                }
                default -> {
                    // the update thread takes everything else from the inbox
                }
            }
        }

        @Override
        public void onLost(ControlConnection c, Throwable cause) {
            for (Running update : announced.values()) {
                update.fail(new Failure(Reason.PEER_LOST, 0, "control connection to the sender lost: "
                        + ControlConnection.describe(cause), cause), true);
            }
            Formation forming = formation.get();
            if (forming != null) {
                forming.abort(null); // awaitUpdate then reports the lost connection
            }
        }
    }

    /**
     * A transport group this receiver was asked to form; the control thread aborts it when the sender says so, even
     * before the update thread has begun to form it.
     */
    private static final class Formation {
        private final int epoch;
        private final AtomicReference<Abort> notice = new AtomicReference<>();
        /** Counted down by the first abort: the sender's ABORT, or the loss of the connection. */
        private final CountDownLatch ended = new CountDownLatch(1);
        private volatile boolean aborted;
        private volatile Transport.PendingGroup pending;

        Formation(int epoch) {
            this.epoch = epoch;
        }

        int epoch() {
            return epoch;
        }

        /** Makes an abort from now on reach {@code group}; aborts it at once if one came first. */
        void attach(Transport.PendingGroup group) {
            pending = group;
            if (aborted) {
                group.abort();
            }
        }

        /** From the control thread: {@code why} is the sender's ABORT, null when the connection was lost. */
        void abort(Abort why) {
            if (why != null) {
                notice.compareAndSet(null, why);
            }
            aborted = true;
            Transport.PendingGroup group = pending;
            if (group != null) {
                group.abort();
            }
            ended.countDown();
        }

        /** The sender's ABORT, if one arrived while the group formed. */
        Abort notice() {
            return notice.get();
        }

        /** Waits until the sender's ABORT arrives or the connection is lost; the ABORT, or null. */
        Abort awaitNotice(long deadlineNanos) {
            try {
                ended.await(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return notice.get();
        }

        /** For an ABORT that came just as the group completed: the group is of no use to the aborted update. */
        void throwIfAbortedBySender() {
            Abort a = notice.get();
            if (a != null) {
                throw new SyncException("sender aborted update " + a.version() + " as the transport group formed");
            }
        }
    }

    /**
     * An update the sender announced, from its BEGIN's arrival: the first failure wins and aborts its transport
     * group, from whichever thread saw it, even before the update thread has started it.
     */
    private static final class Running {
        final long version;
        final AtomicReference<Failure> failure = new AtomicReference<>();
        final AtomicReference<Failure> notice = new AtomicReference<>();
        final CountDownLatch noticed = new CountDownLatch(1);
        private volatile Transport.Group group;

        Running(long version) {
            this.version = version;
        }

        /** As the update starts: a failure from now on aborts {@code g}; aborts it at once if one came first. */
        void attach(Transport.Group g) {
            group = g;
            if (failure.get() != null) {
                g.abort();
            }
        }

        /** {@code fromSender}: the failure came over the control connection (an ABORT or its loss). */
        void fail(Failure f, boolean fromSender) {
            if (fromSender && notice.compareAndSet(null, f)) {
                noticed.countDown();
            }
            if (failure.compareAndSet(null, f)) {
                Transport.Group g = group;
                if (g != null) {
                    g.abort();
                }
            }
        }

        Failure awaitNotice(long deadlineNanos) {
            try {
                noticed.await(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return notice.get();
        }

        void throwIfFailed() {
            Failure f = failure.get();
            if (f != null) {
                throw new FailedElsewhere(f);
            }
        }
    }

    /** Carries a failure recorded by another thread to the update thread's handler. */
    private static final class FailedElsewhere extends SyncException {
        private static final long serialVersionUID = 1L;

        FailedElsewhere(Failure failure) {
            super(failure.message(), failure.cause());
        }
    }

    /** Leaves the group, disconnects and frees the buffers. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        connection.close(); // wakes an awaitUpdate in progress (its update fails as PEER_LOST)
        synchronized (updateLock) {
            try {
                closeGroup();
            } finally {
                try {
                    pipeline.close();
                } finally {
                    scheduler.shutdownNow();
                    deadlines.shutdownNow();
                }
            }
        }
    }

    /** Configures and joins a {@link WeightReceiver}. */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = -1;
        private byte[] token;
        private String name = "receiver";
        private String expectedFingerprint;
        private CommitMode mode = CommitMode.STAGED;
        private Map<String, MemorySegment> destinations;
        private Map<String, DeviceMemory> deviceDestinations;
        private BucketConsumer consumer;
        private Transport transport = Transport.hostTcp();
        private SyncListener listener = new SyncListener() { };
        private Duration ioTimeout = Duration.ofSeconds(10);
        private int maxFrameBytes = 64 << 20;

        private Builder() {
        }

        /** The sender's control address. */
        public Builder sender(String host, int port) {
            this.host = Objects.requireNonNull(host, "host");
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port must be in [1, 65535]: " + port);
            }
            this.port = port;
            return this;
        }

        /** The shared secret the sender expects (sent in clear: use loopback or a trusted network). */
        public Builder token(String token) {
            this.token = Tokens.bytes(token);
            return this;
        }

        /** A label the sender uses in its messages about this receiver. */
        public Builder name(String name) {
            this.name = Objects.requireNonNull(name, "name");
            return this;
        }

        /** Refuse to join unless the sender's plan has this fingerprint ({@link BucketPlan#fingerprint()}). */
        public Builder expectPlan(String fingerprint) {
            HexFormat.of().parseHex(fingerprint); // validates
            this.expectedFingerprint = fingerprint;
            return this;
        }

        /** Default {@link CommitMode#STAGED}. */
        public Builder commitMode(CommitMode mode) {
            this.mode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /** Scatter mode: every tensor of the plan, by name, each exactly its byte size (checked at join). */
        public Builder scatterInto(Map<String, MemorySegment> destinations) {
            this.destinations = Map.copyOf(destinations);
            this.consumer = null;
            this.deviceDestinations = null;
            return this;
        }

        /**
         * Scatter mode on the device ({@link Transport#nccl} transport): every tensor of the plan, by name; one
         * batched copy per bucket.
         */
        public Builder scatterIntoDevice(Map<String, DeviceMemory> destinations) {
            this.deviceDestinations = Map.copyOf(destinations);
            this.destinations = null;
            this.consumer = null;
            return this;
        }

        /** Delivered mode: the application applies each bucket. */
        public Builder deliverTo(BucketConsumer consumer) {
            this.consumer = Objects.requireNonNull(consumer, "consumer");
            this.destinations = null;
            this.deviceDestinations = null;
            return this;
        }

        /** Must be the sender's transport (checked at join); default {@link Transport#hostTcp()}. */
        public Builder transport(Transport transport) {
            this.transport = Objects.requireNonNull(transport, "transport");
            return this;
        }

        /** Told of every bucket received and every committed update; default: ignores all. */
        public Builder listener(SyncListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** Bound of every control-plane read and write; default 10 s. */
        public Builder ioTimeout(Duration timeout) {
            this.ioTimeout = Arguments.positive("ioTimeout", timeout);
            return this;
        }

        /** Largest control frame accepted from the sender (the plan travels in one); default 64 MiB. */
        public Builder maxFrameBytes(int bytes) {
            this.maxFrameBytes = Arguments.atLeast("maxFrameBytes", bytes, 1024);
            return this;
        }

        /**
         * Connects, authenticates, receives and validates the plan, checks the destinations against it and
         * allocates the buffers. The transport group is formed later, inside {@link #awaitUpdate}.
         *
         * @param timeout bounds the whole join: connecting, HELLO and WELCOME (each read and write also within the
         *                I/O timeout)
         * @throws IllegalArgumentException the timeout is not positive
         * @throws JoinRejectedException    the sender refused (wrong token, plan mismatch, group full), or its plan
         *                                  does not fit the destinations (plan mismatch)
         * @throws ProtocolException        the sender's answer was malformed or too large, e.g. a plan that does not
         *                                  decode (its {@link PlanFormatException} is the cause) or whose buffers
         *                                  cannot be allocated
         * @throws ConnectionLostException  the sender could not be reached, or did not answer within the timeout
         */
        public WeightReceiver join(Duration timeout) {
            Arguments.positive("timeout", timeout);
            if (port < 0) {
                throw new IllegalStateException("sender(host, port) is required");
            }
            if (token == null) {
                throw new IllegalStateException("token(...) is required");
            }
            if ((destinations != null ? 1 : 0) + (consumer != null ? 1 : 0) + (deviceDestinations != null ? 1 : 0) != 1) {
                throw new IllegalStateException("exactly one of scatterInto, scatterIntoDevice or deliverTo is required");
            }
            InetAddress address;
            try {
                address = InetAddress.getByName(host);
            } catch (UnknownHostException e) {
                throw new SyncException("unknown sender host " + host, e);
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            ControlConnection connection;
            try {
                connection = new ControlConnection(DeadlineChannel.connect(new InetSocketAddress(address, port), deadline),
                        ioTimeout, maxFrameBytes);
            } catch (IOException e) {
                throw new ConnectionLostException("cannot connect to sender " + host + ":" + port + ": " + e, e);
            }
            ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(
                    task -> Thread.ofPlatform().daemon().name("sync-receiver-timer").unstarted(task));
            try {
                byte[] expected = expectedFingerprint == null ? new byte[0] : HexFormat.of().parseHex(expectedFingerprint);
                connection.send(new Hello(Wire.PROTOCOL_VERSION, token, expected, name), deadline);
                Message answer = connection.receive(deadline);
                Welcome welcome = switch (answer) {
                    case Welcome w -> w;
                    case Reject r -> throw new JoinRejectedException(publicReason(r.reason()), r.message());
                    default -> throw new ProtocolException("expected WELCOME, got " + answer.getClass().getSimpleName());
                };
                if (!welcome.transport().equals(transport.name())) {
                    throw new ProtocolException("sender uses transport '" + welcome.transport() + "', this receiver '"
                            + transport.name() + "'");
                }
                BucketPlan plan = decodePlan(welcome.plan());
                byte[] fingerprint = HexFormat.of().parseHex(plan.fingerprint());
                if (!Arrays.equals(fingerprint, welcome.fingerprint())) {
                    throw new ProtocolException("welcome.fingerprint does not match the plan it carries");
                }
                if (expected.length > 0 && !Arrays.equals(expected, fingerprint)) {
                    throw new JoinRejectedException(JoinRejectedException.Reason.PLAN_MISMATCH, "expected plan "
                            + expectedFingerprint + ", sender has " + plan.fingerprint());
                }
                WeightReceiver receiver = newReceiver(connection, address, plan, fingerprint, scheduler);
                connection.start("sync-receiver-control", receiver.new Handler(), scheduler);
                return receiver;
            } catch (IOException e) {
                connection.close();
                scheduler.shutdownNow();
                throw new ConnectionLostException("join handshake with " + host + ":" + port + " failed: " + e, e);
            } catch (RuntimeException | Error e) {
                connection.close();
                scheduler.shutdownNow();
                throw e;
            }
        }

        /**
         * The receiver for the sender's plan. A plan that does not fit the destinations is refused, and one whose
         * buffers cannot be allocated is the sender's protocol error: the plan comes from the network.
         */
        private WeightReceiver newReceiver(ControlConnection connection, InetAddress address, BucketPlan plan,
                                           byte[] fingerprint, ScheduledExecutorService scheduler) {
            try {
                return new WeightReceiver(connection, address, plan, fingerprint, this, scheduler);
            } catch (IllegalArgumentException mismatch) { // Tensors.resolve: names or sizes differ
                throw new JoinRejectedException(JoinRejectedException.Reason.PLAN_MISMATCH, "the sender's plan "
                        + plan.fingerprint() + " does not fit the destinations: " + mismatch.getMessage());
            } catch (OutOfMemoryError tooLarge) {
                throw new ProtocolException("welcome.plan needs receive buffers that cannot be allocated ("
                        + plan.bucketCount() + " buckets, " + plan.totalBucketBytes() + " bytes, the largest "
                        + plan.maxBucketByteSize() + ", for " + plan.totalTensorBytes() + " bytes of tensors): "
                        + tooLarge.getMessage(), tooLarge);
            }
        }

        /** The plan WELCOME carries; a malformed one is the sender's protocol error, naming the bad field. */
        private static BucketPlan decodePlan(byte[] encoded) {
            try {
                return PlanCodec.decode(encoded);
            } catch (PlanFormatException e) {
                throw new ProtocolException("welcome.plan is not a valid bucket plan: field " + e.field() + " = "
                        + e.value() + ": " + e.reason(), e);
            }
        }

        private static JoinRejectedException.Reason publicReason(Reason reason) {
            return switch (reason) {
                case WRONG_TOKEN -> JoinRejectedException.Reason.WRONG_TOKEN;
                case PLAN_MISMATCH -> JoinRejectedException.Reason.PLAN_MISMATCH;
                case GROUP_FULL -> JoinRejectedException.Reason.GROUP_FULL;
                case CLOSED -> JoinRejectedException.Reason.CLOSED;
                default -> JoinRejectedException.Reason.PROTOCOL;
            };
        }
    }
}
