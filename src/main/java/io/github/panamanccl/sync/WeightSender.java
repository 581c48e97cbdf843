package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.TensorSpec;
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
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The trainer side: owns the plan, listens for receivers, and publishes version after version from the tensors
 * it was given (read at publish time, so the trainer updates them in place between publishes).
 *
 * <pre>{@code
 * void publish(List<TensorSpec> specs, Map<String, MemorySegment> tensorsByName, String secret) {
 *     try (WeightSender sender = WeightSender.builder()
 *             .inventory(specs, 4L << 20).hostSources(tensorsByName)
 *             .receivers(2).token(secret).start()) {
 *         UpdateReport report = sender.publish(7, Duration.ofSeconds(30));
 *     }
 * }
 * }</pre>
 *
 * <p>Each update: the group (control connections plus a transport group) is formed or re-formed if a receiver
 * changed; every receiver gets {@code BEGIN(version, plan fingerprint, deadline)} and must answer READY (a
 * receiver on another plan answers PLAN_MISMATCH and nothing moves); the buckets are broadcast, one collective
 * each; every receiver acknowledges. Any failure or the deadline aborts the transport group on every rank and
 * {@link #publish} throws a typed {@link UpdateFailedException}; the next publish re-forms the group.
 * Thread-safe; publishes are serialised.
 */
public final class WeightSender implements AutoCloseable {
    private static final int HANDSHAKE_FRAME_BYTES = 8 << 10;
    private static final long POLL_SLICE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
    /** Control connections whose handshake may run at once; more are closed on arrival. */
    static final int MAX_HANDSHAKES = 32;

    private final BucketPlan plan;
    private final byte[] planBytes;
    private final byte[] fingerprint;
    private final int receivers;
    private final byte[] tokenDigest;
    private final InetAddress bindAddress;
    private final Transport transport;
    private final SyncListener listener;
    private final Duration ioTimeout;
    private final int maxFrameBytes;
    private final ServerSocketChannel server;
    /** Heartbeats; a heartbeat to a peer that does not read may block one of its threads up to the I/O timeout. */
    private final ScheduledExecutorService scheduler;
    /** Deadline watchdogs, on a thread of their own so that no blocked heartbeat can delay one. */
    private final ScheduledExecutorService deadlines = Executors.newSingleThreadScheduledExecutor(
            task -> Thread.ofPlatform().daemon().name("sync-sender-deadline").unstarted(task));
    private final SenderPipeline pipeline;
    private final AtomicLong nextMemberId = new AtomicLong(1);
    private final List<Member> members = new ArrayList<>(); // guarded by itself
    /** Places promised to receivers whose WELCOME is being sent; guarded by {@link #members}. */
    private int reservedPlaces;
    private final Semaphore handshakes = new Semaphore(MAX_HANDSHAKES);
    private final Object publishLock = new Object();
    private volatile boolean closed;

    // Group state, guarded by publishLock.
    private Transport.Group group;
    private volatile List<Member> groupMembers = List.of();
    private int epoch;
    private long lastPublished = Long.MIN_VALUE;
    private volatile ActiveUpdate active;

    private WeightSender(Builder b, BucketPlan plan, SenderPipeline pipeline) throws IOException {
        this.plan = plan;
        this.planBytes = PlanCodec.encode(plan);
        this.fingerprint = HexFormat.of().parseHex(plan.fingerprint());
        this.receivers = b.receivers;
        this.tokenDigest = Tokens.digest(b.token);
        this.bindAddress = b.bindAddress;
        this.transport = b.transport;
        this.listener = b.listener;
        this.ioTimeout = b.ioTimeout;
        this.maxFrameBytes = b.maxFrameBytes;
        this.scheduler = Executors.newScheduledThreadPool(2,
                task -> Thread.ofPlatform().daemon().name("sync-sender-timer").unstarted(task));
        this.pipeline = pipeline;
        ServerSocketChannel listening = ServerSocketChannel.open();
        try {
            listening.bind(new InetSocketAddress(bindAddress, b.port), 64);
        } catch (IOException e) {
            listening.close();
            pipeline.close();
            scheduler.shutdownNow();
            deadlines.shutdownNow();
            throw e;
        }
        this.server = listening;
        Thread.ofPlatform().daemon().name("sync-sender-accept").start(this::acceptLoop);
    }

    /** A new builder; {@code plan}/{@code inventory}, {@code hostSources}, {@code receivers} and {@code token} are required. */
    public static Builder builder() {
        return new Builder();
    }

    /** The control port receivers connect to. */
    public int port() {
        try {
            return ((InetSocketAddress) server.getLocalAddress()).getPort();
        } catch (IOException e) {
            throw new SyncException("sender is closed", e);
        }
    }

    /** The plan every update follows (receivers learn it when they join). */
    public BucketPlan plan() {
        return plan;
    }

    /** Receivers currently connected (joined, whether or not in a formed group yet). */
    public int connectedReceivers() {
        synchronized (members) {
            return members.size();
        }
    }

    /**
     * Publishes {@code version} from the registered sources to every receiver; returns once every receiver has
     * committed it.
     *
     * @param version  must be greater than the last successfully published version
     * @param deadline the whole update (including re-forming the group) must finish within it
     * @throws UpdateDeadlineException the deadline passed (the transport group was aborted everywhere)
     * @throws PeerFailedException     a receiver died, disconnected or reported an error ({@code failedRank()})
     * @throws PlanMismatchException   a receiver holds another plan; nothing was transferred
     * @throws BucketCorruptedException a receiver got a bucket that failed validation
     * @throws UpdateFailedException   (this type itself) {@link #close()} was called while the update ran, e.g. while
     *                                 it waited for receivers to connect
     * @throws IllegalStateException   the sender was closed before this call
     */
    public UpdateReport publish(long version, Duration deadline) {
        Arguments.positive("deadline", deadline);
        synchronized (publishLock) {
            if (closed) {
                throw new IllegalStateException("sender is closed");
            }
            if (version <= lastPublished) {
                throw new IllegalArgumentException("version " + version + " is not greater than the last published "
                        + lastPublished);
            }
            long start = System.nanoTime();
            long deadlineNanos = start + deadline.toNanos();
            ActiveUpdate update = new ActiveUpdate(version);
            active = update;
            ScheduledFuture<?> watchdog = deadlines.schedule(() -> update.fail(new Failure(Reason.DEADLINE,
                    UpdateFailedException.UNKNOWN_RANK, "deadline of " + deadline + " passed", null)),
                    deadline.toNanos(), TimeUnit.NANOSECONDS);
            UpdateReport report;
            try {
                report = runUpdate(update, start, deadlineNanos);
            } catch (RuntimeException e) {
                Failure failure = update.failure.get() != null ? update.failure.get()
                        : update.namedFailure(Failure.of(e, 0), deadlineNanos);
                abortUpdate(update, failure);
                UpdateFailedException thrown = failure.toException("sender", 0, version, null);
                if (thrown.getCause() != e) {
                    thrown.addSuppressed(e);
                }
                throw thrown;
            } finally {
                // Before the listener runs: a watchdog or member failure must not abort the group once the update
                // has succeeded (a watchdog already running may still do so; ensureGroup then re-forms the group).
                watchdog.cancel(false);
                active = null;
            }
            lastPublished = version;
            listener.onUpdate(report);
            return report;
        }
    }

    private UpdateReport runUpdate(ActiveUpdate update, long start, long deadlineNanos) {
        long version = update.version;
        ensureGroup(update, deadlineNanos);
        List<Member> ranks = groupMembers;
        long deadlineMillis = millisLeftRoundedUp(deadlineNanos);
        for (Member m : ranks) {
            send(update, m, new Begin(epoch, version, fingerprint, deadlineMillis));
        }
        for (Member m : ranks) {
            awaitReply(update, m, deadlineNanos, msg -> msg instanceof Ready r && r.version() == version, "READY");
        }
        Transport.Group g = group;
        long callsBefore = g.collectiveCalls();
        pipeline.run(version, g, start, deadlineNanos, listener::onBucket);
        update.throwIfFailed();
        List<Integer> acknowledged = new ArrayList<>();
        for (Member m : ranks) {
            awaitReply(update, m, deadlineNanos, msg -> msg instanceof Done d && d.version() == version, "DONE");
            acknowledged.add(m.rank);
        }
        return new UpdateReport(version, 0, transport.name(), plan.totalBucketBytes(), plan.bucketCount(),
                g.collectiveCalls() - callsBefore, Pipelines.seconds(System.nanoTime() - start), acknowledged);
    }

    /**
     * The time left, as receivers are told it: rounded up, so that no receiver's deadline is earlier than ours
     * (each adds {@link WeightReceiver#DEADLINE_GRACE_NANOS} on top, so the sender decides when an update is late).
     */
    private static long millisLeftRoundedUp(long deadlineNanos) {
        long left = deadlineNanos - System.nanoTime();
        return Math.max(1, (left + TimeUnit.MILLISECONDS.toNanos(1) - 1) / TimeUnit.MILLISECONDS.toNanos(1));
    }

    /** Forms the group unless the current one is intact (not aborted) and has exactly the connected receivers. */
    private void ensureGroup(ActiveUpdate update, long deadlineNanos) {
        List<Member> current = awaitMembers(update, deadlineNanos);
        update.members = current;
        if (group != null && !GroupBase.wasAborted(group) && current.equals(groupMembers)) {
            update.group = group;
            return;
        }
        closeGroup();
        epoch++;
        update.formingEpoch = epoch;
        int world = receivers + 1;
        try (Transport.Rendezvous rendezvous = transport.openRendezvous(bindAddress, world)) {
            update.forming(rendezvous);
            long timeoutMillis = millisLeftRoundedUp(deadlineNanos);
            for (int i = 0; i < current.size(); i++) {
                Member m = current.get(i);
                m.rank = i + 1;
                send(update, m, new Group(epoch, m.rank, world, timeoutMillis, rendezvous.bytes()));
            }
            Transport.Group formed = rendezvous.awaitGroup(deadlineNanos);
            update.group = formed;
            group = formed;
            groupMembers = current;
            int formedEpoch = epoch;
            for (Member m : current) {
                awaitReply(update, m, deadlineNanos,
                        msg -> msg instanceof GroupReady r && r.epoch() == formedEpoch, "GROUP_READY");
            }
        }
    }

    /**
     * Waits until every receiver place is taken; returns the members in join order. Ends early when the update
     * fails or the sender is closed ({@link #close()} wakes it).
     */
    private List<Member> awaitMembers(ActiveUpdate update, long deadlineNanos) {
        synchronized (members) {
            while (members.size() < receivers) {
                if (closed) {
                    update.fail(new Failure(Reason.CLOSED, 0, "the sender was closed while the update waited for "
                            + "receivers (" + members.size() + " of " + receivers + " connected)", null));
                }
                update.throwIfFailed();
                long remaining = deadlineNanos - System.nanoTime();
                if (remaining <= 0) {
                    throw new UpdateDeadlineException("only " + members.size() + " of " + receivers
                            + " receivers are connected", update.version, UpdateFailedException.UNKNOWN_RANK, null, null);
                }
                try {
                    TimeUnit.NANOSECONDS.timedWait(members, remaining);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SyncException("interrupted while waiting for receivers", e);
                }
            }
            return List.copyOf(members);
        }
    }

    private void send(ActiveUpdate update, Member m, Message message) {
        try {
            m.connection.send(message);
        } catch (IOException e) {
            update.fail(new Failure(Reason.PEER_LOST, m.rank, "cannot send to receiver " + m + ": " + e.getMessage(), e));
            update.throwIfFailed();
        }
    }

    /** Polls one member for the expected reply, in short slices so a failure elsewhere ends the wait at once. */
    private void awaitReply(ActiveUpdate update, Member m, long deadlineNanos,
            java.util.function.Predicate<Message> expected, String what) {
        while (true) {
            update.throwIfFailed();
            long now = System.nanoTime();
            if (now - deadlineNanos >= 0) {
                update.fail(new Failure(Reason.DEADLINE, m.rank, "receiver " + m + " did not answer " + what
                        + " before the deadline", null));
                update.throwIfFailed();
            }
            Message msg;
            try {
                msg = m.connection.poll(Math.min(deadlineNanos, now + POLL_SLICE_NANOS));
            } catch (ConnectionLostException e) {
                update.fail(new Failure(Reason.PEER_LOST, m.rank, e.getMessage(), e));
                continue;
            }
            if (msg == null) {
                continue;
            }
            if (expected.test(msg)) {
                return;
            }
            if (msg instanceof Failed f && f.version() == update.version) {
                update.fail(fromReceiver(m, f.reason(), f.message()));
            }
            // anything else: stale replies of an earlier update or epoch; a GROUP_FAILED failed the update on arrival
        }
    }

    private static Failure fromReceiver(Member m, Reason reason, String message) {
        Reason seen = switch (reason) {
            case DEADLINE, CORRUPT_BUCKET, PLAN_MISMATCH -> reason;
            default -> Reason.PEER_ERROR;
        };
        return new Failure(seen, m.rank, "receiver " + m + " reported " + reason + ": " + message, null);
    }

    /**
     * Tells every member of the update (of the group, or of the group being formed) that it failed, and aborts the
     * transport group; bounded, never blocks long.
     */
    private void abortUpdate(ActiveUpdate update, Failure failure) {
        Abort notice = new Abort(update.version, failure.reason(), failure.rank(), failure.message());
        for (Member m : update.members) {
            if (m.connection.isOpen()) {
                m.connection.sendQuietly(notice);
            }
        }
        closeGroup();
    }

    private void closeGroup() {
        Transport.Group g = group;
        group = null;
        groupMembers = List.of();
        if (g != null) {
            g.abort();
            g.close();
        }
    }

    /**
     * Accepts control connections; each handshake runs on its own thread, at most {@link #MAX_HANDSHAKES} at once.
     * A connection beyond that is closed at once, so unauthenticated peers cannot pile up threads and selectors.
     */
    private void acceptLoop() {
        while (!closed) {
            SocketChannel accepted;
            try {
                accepted = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            if (!handshakes.tryAcquire()) {
                closeQuietly(accepted);
                continue;
            }
            try {
                Thread.ofPlatform().daemon().name("sync-sender-handshake").start(() -> {
                    try {
                        handshake(accepted);
                    } finally {
                        handshakes.release();
                    }
                });
            } catch (RuntimeException | Error e) {
                handshakes.release();
                closeQuietly(accepted);
            }
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // refused before anything was read
        }
    }

    private void handshake(SocketChannel accepted) {
        ControlConnection connection;
        try {
            connection = new ControlConnection(DeadlineChannel.wrap(accepted), ioTimeout, HANDSHAKE_FRAME_BYTES);
        } catch (IOException e) {
            return;
        }
        try {
            Message first = connection.receive();
            if (!(first instanceof Hello hello)) {
                throw new ProtocolException("expected HELLO, got " + first.getClass().getSimpleName());
            }
            if (hello.protocolVersion() != Wire.PROTOCOL_VERSION) {
                throw new ProtocolException("hello.protocolVersion is " + hello.protocolVersion() + ", this sender speaks "
                        + Wire.PROTOCOL_VERSION);
            }
            if (!Tokens.matches(tokenDigest, hello.token())) {
                reject(connection, Reason.WRONG_TOKEN, JoinRejectedException.Reason.WRONG_TOKEN,
                        "the token does not match the sender's");
                return;
            }
            if (hello.expectedFingerprint().length > 0
                    && !java.util.Arrays.equals(hello.expectedFingerprint(), fingerprint)) {
                reject(connection, Reason.PLAN_MISMATCH, JoinRejectedException.Reason.PLAN_MISMATCH,
                        "receiver expects plan " + HexFormat.of().formatHex(hello.expectedFingerprint())
                                + ", sender has plan " + plan.fingerprint());
                return;
            }
            Member member = new Member(nextMemberId.getAndIncrement(), connection, hello.name());
            Reason refusal = reservePlace();
            if (refusal == Reason.CLOSED) {
                reject(connection, Reason.CLOSED, JoinRejectedException.Reason.CLOSED, "sender is closing");
                return;
            }
            if (refusal == Reason.GROUP_FULL) {
                reject(connection, Reason.GROUP_FULL, JoinRejectedException.Reason.GROUP_FULL,
                        "all " + receivers + " receiver places are taken");
                return;
            }
            boolean added = false;
            try {
                // Outside the lock: the plan may take up to the I/O timeout to reach a slow peer.
                connection.maxFrameBytes(maxFrameBytes);
                connection.send(new Welcome(member.id, transport.name(), fingerprint, planBytes));
                synchronized (members) {
                    if (!closed) {
                        members.add(member);
                        added = true;
                    }
                }
            } finally {
                synchronized (members) {
                    reservedPlaces--;
                    members.notifyAll();
                }
            }
            if (!added) {
                connection.close(); // the sender closed meanwhile
                return;
            }
            connection.start("sync-sender-member-" + member.id, new MemberHandler(member), scheduler);
        } catch (ProtocolException e) {
            reject(connection, Reason.PROTOCOL, JoinRejectedException.Reason.PROTOCOL, e.getMessage());
        } catch (IOException | RuntimeException e) {
            connection.close();
        }
    }

    /** Reserves a receiver place for a WELCOME about to be sent; null, or why there is none. */
    private Reason reservePlace() {
        synchronized (members) {
            if (closed) {
                return Reason.CLOSED;
            }
            if (members.size() + reservedPlaces >= receivers) {
                return Reason.GROUP_FULL;
            }
            reservedPlaces++;
            return null;
        }
    }

    private void reject(ControlConnection connection, Reason wire, JoinRejectedException.Reason reason, String message) {
        connection.sendQuietly(new Reject(wire, message));
        connection.close();
        listener.onJoinRejected(connection.peer(), reason, message);
    }

    /** Reacts to a member's traffic as it arrives: failures abort the running update at once. */
    private final class MemberHandler implements ControlConnection.Handler {
        private final Member member;

        MemberHandler(Member member) {
            this.member = member;
        }

        @Override
        public void onMessage(ControlConnection connection, Message message) {
            ActiveUpdate update = active;
            if (update == null) {
                return;
            }
            if (message instanceof Failed f && f.version() == update.version) {
                update.fail(fromReceiver(member, f.reason(), f.message()));
            } else if (message instanceof GroupFailed f && f.epoch() == update.formingEpoch) {
                update.fail(new Failure(Reason.GROUP_FAILED, member.rank, "receiver " + member
                        + " could not join the transport group: " + f.message(), null));
            } else if (message instanceof Done d && d.version() == update.version) {
                update.committed.add(member); // its later disconnect no longer concerns this update
            }
        }

        @Override
        public void onLost(ControlConnection connection, Throwable cause) {
            synchronized (members) {
                members.remove(member);
                members.notifyAll();
            }
            ActiveUpdate update = active;
            if (update != null && update.members.contains(member) && !update.committed.contains(member)) {
                update.fail(new Failure(Reason.PEER_LOST, member.rank, "receiver " + member + " lost its control "
                        + "connection: " + ControlConnection.describe(cause), cause));
            }
        }
    }

    /** A connected receiver. */
    private static final class Member {
        final long id;
        final ControlConnection connection;
        final String name;
        volatile int rank = UpdateFailedException.UNKNOWN_RANK;

        Member(long id, ControlConnection connection, String name) {
            this.id = id;
            this.connection = connection;
            this.name = name;
        }

        @Override
        public String toString() {
            return "#" + id + " '" + name + "' at " + connection.peer();
        }
    }

    /**
     * The update in flight; the first failure wins and aborts its transport group, or the group being formed, from
     * the thread that saw it.
     */
    private static final class ActiveUpdate {
        static final long NAMED_FAILURE_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(500);
        final long version;
        final AtomicReference<Failure> failure = new AtomicReference<>();
        volatile Transport.PendingGroup forming;
        volatile Transport.Group group;
        /** The epoch of the group this update forms (0: it forms none); a GROUP_FAILED for it fails the update. */
        volatile int formingEpoch;
        volatile List<Member> members = List.of();
        final java.util.Set<Member> committed = java.util.concurrent.ConcurrentHashMap.newKeySet();

        ActiveUpdate(long version) {
            this.version = version;
        }

        /**
         * What to report for {@code own}, this sender's own view of a failure. NCCL's errors do not say which rank
         * failed (a killed or aborted peer is ncclRemoteError everywhere), and they often arrive just before the
         * control plane's word that names the rank: a receiver's FAILED, or its lost connection. So a peer failure
         * naming no rank waits up to {@link #NAMED_FAILURE_WAIT_NANOS} (and no later than the deadline) for that
         * word; the first failure recorded then wins.
         */
        Failure namedFailure(Failure own, long deadlineNanos) {
            if (own.reason() == Reason.PEER_LOST && own.rank() == UpdateFailedException.UNKNOWN_RANK) {
                long until = Math.min(System.nanoTime() + NAMED_FAILURE_WAIT_NANOS, deadlineNanos);
                while (failure.get() == null && System.nanoTime() - until < 0) {
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(1));
                }
            }
            fail(own);
            return failure.get();
        }

        void fail(Failure f) {
            if (failure.compareAndSet(null, f)) {
                Transport.PendingGroup pending = forming;
                if (pending != null) {
                    pending.abort();
                }
                Transport.Group g = group;
                if (g != null) {
                    g.abort();
                }
            }
        }

        /** Makes a failure from now on abort the group being formed; aborts it at once if one came first. */
        void forming(Transport.PendingGroup pending) {
            forming = pending;
            if (failure.get() != null) {
                pending.abort();
            }
        }

        void throwIfFailed() {
            Failure f = failure.get();
            if (f != null) {
                throw f.toException("sender", 0, version, null);
            }
        }
    }

    /** Stops listening, disconnects every receiver, frees the bucket buffers. Idempotent. */
    @Override
    public void close() {
        synchronized (members) {
            if (closed) {
                return;
            }
            closed = true;
            members.notifyAll(); // a publish waiting for receivers fails now instead of at its deadline
        }
        try {
            server.close();
        } catch (IOException ignored) {
            // nothing to flush
        }
        ActiveUpdate update = active;
        if (update != null) {
            update.fail(new Failure(Reason.CLOSED, 0, "the sender was closed during the update", null));
        }
        synchronized (publishLock) {
            try {
                closeGroup();
            } finally {
                releaseMembersAndBuffers();
            }
        }
    }

    /** The rest of {@link #close()}, done even when closing the group failed. */
    private void releaseMembersAndBuffers() {
        List<Member> all;
        synchronized (members) {
            all = List.copyOf(members);
            members.clear();
        }
        for (Member m : all) {
            m.connection.close();
        }
        try {
            pipeline.close();
        } finally {
            scheduler.shutdownNow();
            deadlines.shutdownNow();
        }
    }

    /** Configures and starts a {@link WeightSender}. */
    public static final class Builder {
        private BucketPlan plan;
        private List<TensorSpec> inventory;
        private long bucketCapBytes;
        private Map<String, MemorySegment> hostSources;
        private Map<String, DeviceMemory> deviceSources;
        private int receivers;
        private byte[] token;
        private InetAddress bindAddress = InetAddress.getLoopbackAddress();
        private int port;
        private Transport transport = Transport.hostTcp();
        private SyncListener listener = new SyncListener() { };
        private Duration ioTimeout = Duration.ofSeconds(10);
        private int maxFrameBytes = 64 << 20;

        private Builder() {
        }

        /** A ready plan (e.g. decoded from a file); alternative to {@link #inventory}. */
        public Builder plan(BucketPlan plan) {
            this.plan = Objects.requireNonNull(plan, "plan");
            return this;
        }

        /** Plans the inventory once with {@link BucketPlanner}; alternative to {@link #plan}. */
        public Builder inventory(List<TensorSpec> inventory, long bucketCapBytes) {
            this.inventory = List.copyOf(inventory);
            this.bucketCapBytes = bucketCapBytes;
            return this;
        }

        /**
         * The tensors to publish, by name, in host memory (host transport); every tensor of the plan, each exactly
         * its byte size. Read at every publish.
         */
        public Builder hostSources(Map<String, MemorySegment> sources) {
            this.hostSources = Map.copyOf(sources);
            this.deviceSources = null;
            return this;
        }

        /** The tensors to publish, by name, in device memory ({@link Transport#nccl} transport). */
        public Builder deviceSources(Map<String, DeviceMemory> sources) {
            this.deviceSources = Map.copyOf(sources);
            this.hostSources = null;
            return this;
        }

        /** How many receivers make the group (world size = receivers + 1). */
        public Builder receivers(int receivers) {
            if (receivers < 1) {
                throw new IllegalArgumentException("receivers must be at least 1: " + receivers);
            }
            this.receivers = receivers;
            return this;
        }

        /** The shared secret receivers must present (compared in constant time). */
        public Builder token(String token) {
            this.token = Tokens.bytes(token);
            return this;
        }

        /** Address to listen on; default 127.0.0.1. */
        public Builder bind(InetAddress address, int port) {
            this.bindAddress = Objects.requireNonNull(address, "address");
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port must be in [0, 65535]: " + port);
            }
            this.port = port;
            return this;
        }

        /** The data plane; default {@link Transport#hostTcp()}. */
        public Builder transport(Transport transport) {
            this.transport = Objects.requireNonNull(transport, "transport");
            return this;
        }

        /** Told of every bucket broadcast, every completed update and every refused join; default: ignores all. */
        public Builder listener(SyncListener listener) {
            this.listener = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** Bound of every control-plane read and write; heartbeats run at a third of it. Default 10 s. */
        public Builder ioTimeout(Duration timeout) {
            this.ioTimeout = Arguments.positive("ioTimeout", timeout);
            return this;
        }

        /** Largest control frame accepted from an authenticated receiver; default 64 MiB. */
        public Builder maxFrameBytes(int bytes) {
            this.maxFrameBytes = Arguments.atLeast("maxFrameBytes", bytes, HANDSHAKE_FRAME_BYTES);
            return this;
        }

        /** Validates, binds the control port and starts accepting receivers. */
        public WeightSender start() {
            if (receivers == 0) {
                throw new IllegalStateException("receivers(...) is required");
            }
            if (token == null) {
                throw new IllegalStateException("token(...) is required");
            }
            if ((plan == null) == (inventory == null)) {
                throw new IllegalStateException("exactly one of plan(...) or inventory(...) is required");
            }
            BucketPlan resolved = plan != null ? plan : BucketPlanner.plan(inventory, bucketCapBytes);
            SenderPipeline pipeline = switch (transport) {
                case NcclTransport nccl -> {
                    if (deviceSources == null) {
                        throw new IllegalStateException("the nccl transport needs deviceSources(...)");
                    }
                    yield new DeviceSenderPipeline(resolved, nccl.device(),
                            Tensors.resolveDevice(resolved, deviceSources, "source"));
                }
                case HostTcpTransport host -> {
                    if (hostSources == null) {
                        throw new IllegalStateException("the " + host.name() + " transport needs hostSources(...)");
                    }
                    yield new HostSenderPipeline(resolved, Tensors.resolve(resolved, hostSources, "source"));
                }
            };
            try {
                return new WeightSender(this, resolved, pipeline);
            } catch (IOException e) {
                throw new SyncException("cannot listen on " + bindAddress + ":" + port + ": " + e.getMessage(), e);
            }
        }
    }
}
