package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.PlanFormatException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The engine side: joins a {@link WeightSender}, learns the plan, and applies updates either by scattering each
 * bucket into destination tensors registered up front ({@link Builder#scatterInto}) or by handing each bucket to
 * the application ({@link Builder#deliverTo}). Allocates only its bucket buffers ({@link CommitMode#IN_PLACE}; none
 * when it scatters host buckets, which it reads straight into the tensors) or one staging area
 * ({@link CommitMode#STAGED}), never a second copy of every tensor besides that.
 *
 * <pre>{@code
 * void applyUpdates(Map<String, MemorySegment> weightsByName, String secret, BooleanSupplier running) {
 *     try (WeightReceiver receiver = WeightReceiver.builder().sender("trainer", 29500).token(secret)
 *             .commitMode(CommitMode.STAGED).scatterInto(weightsByName).join(Duration.ofSeconds(30))) {
 *         while (running.getAsBoolean()) {
 *             receiver.awaitUpdate(Duration.ofMinutes(5)).ifPresent(update -> System.out.println(update.version()));
 *         }
 *     }
 * }
 * }</pre>
 *
 * <p>The application calls {@link #awaitUpdate} in a loop (typically on the engine's weight-sync thread):
 * forming and re-forming the transport group and running each update both happen inside it, while a control
 * thread of the receiver's own reads the sender's messages, answers heartbeats and aborts what the sender aborts.
 * Its {@link #state()} changes only at the end of an update; an in-place failure makes it
 * {@link ReceiverState.Torn}, and every failure throws, so a torn receiver cannot go unnoticed.
 */
public final class WeightReceiver implements AutoCloseable {
    private final ControlLoop loop;
    private final ReceiverControl control;
    private final ReceiverUpdates<?> updates;
    private final BucketPlan plan;
    private final Object updateLock = new Object();
    private volatile boolean closed;

    private WeightReceiver(ControlLoop loop, ReceiverControl control, ReceiverUpdates<?> updates, BucketPlan plan) {
        this.loop = loop;
        this.control = control;
        this.updates = updates;
        this.plan = plan;
    }

    /**
     * A new builder; {@code sender}, {@code token} and exactly one of {@code scatterInto}, {@code scatterIntoDevice}
     * or {@code deliverTo} are required.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** The plan learned from the sender. */
    public BucketPlan plan() {
        return plan;
    }

    /** What the weights are now; see {@link ReceiverState#requireCommitted()}. */
    public ReceiverState state() {
        return updates.state();
    }

    /** Bytes held for bucket buffers or staging (host or device memory, by transport). */
    public long bufferBytes() {
        return updates.bufferBytes();
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
     * @throws ConnectionLostException the sender is gone (closed, died, or silent past the I/O timeout); join again
     * @throws ProtocolException       the sender broke the protocol (e.g. refused our traffic, or announced a
     *                                 version twice)
     */
    public Optional<UpdateReport> awaitUpdate(Duration maxWait) {
        long waitUntil = System.nanoTime() + maxWait.toNanos();
        synchronized (updateLock) {
            if (closed) {
                throw new IllegalStateException("receiver is closed");
            }
            while (true) {
                ReceiverControl.Work work;
                try {
                    work = control.nextWork(Math.max(0, waitUntil - System.nanoTime()));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new SyncException("interrupted while waiting for an update", e);
                }
                switch (work) {
                    case null -> {
                        return Optional.empty();
                    }
                    case ReceiverControl.JoinGroup join -> updates.joinGroup(join);
                    case ReceiverControl.RunUpdate update -> {
                        return Optional.of(updates.run(update));
                    }
                    case ReceiverControl.Disconnected gone -> throw gone.exception();
                }
            }
        }
    }

    /** Leaves the group, disconnects (an update in progress fails) and frees the buffers. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        loop.close();
        synchronized (updateLock) { // an awaitUpdate in progress ends at once: its attempt failed
            updates.close();
        }
    }

    /** Configures and joins a {@link WeightReceiver}. */
    public static final class Builder {
        private SyncOptions options = SyncOptions.DEFAULTS;
        private String host = "127.0.0.1";
        private int port = -1;
        private String name = "receiver";
        private String expectedFingerprint;
        private CommitMode mode = CommitMode.STAGED;
        private Map<String, MemorySegment> destinations;
        private Map<String, DeviceMemory> deviceDestinations;
        private BucketConsumer consumer;

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
            options = options.withToken(token);
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
            options = options.withTransport(transport);
            return this;
        }

        /** Told of every bucket received and every committed update; default: ignores all. */
        public Builder listener(SyncListener listener) {
            options = options.withListener(listener);
            return this;
        }

        /** The silence rule of the control connection (heartbeats run at a third of it). Default 10 s. */
        public Builder ioTimeout(Duration timeout) {
            options = options.withIoTimeout(timeout);
            return this;
        }

        /** Largest control frame accepted from the sender (the plan travels in one); default 64 MiB. */
        public Builder maxFrameBytes(int bytes) {
            options = options.withMaxFrameBytes(bytes, 1024);
            return this;
        }

        /**
         * Connects, authenticates, receives and validates the plan, checks the destinations against it and
         * allocates the buffers, then takes its place (a receiver whose destinations do not fit the plan declines it,
         * and the sender is told why). The transport group is formed later, inside {@link #awaitUpdate}.
         *
         * @param timeout bounds the whole join: connecting, the join request and the sender's answer
         * @throws IllegalArgumentException the timeout is not positive, or the destinations do not fit the plan
         * @throws JoinRejectedException    the sender refused ({@link JoinRejectedException#reason()}: wrong token,
         *                                  plan mismatch, group full, busy: retry)
         * @throws ProtocolException        the sender's answer was malformed or too large, e.g. a plan that does not
         *                                  decode (its {@link PlanFormatException} is the cause)
         * @throws ConnectionLostException  the sender could not be reached, or did not answer within the timeout
         */
        public WeightReceiver join(Duration timeout) {
            Arguments.positive("timeout", timeout);
            if (port < 0) {
                throw new IllegalStateException("sender(host, port) is required");
            }
            byte[] token = options.requireToken();
            if ((destinations != null ? 1 : 0) + (consumer != null ? 1 : 0) + (deviceDestinations != null ? 1 : 0) != 1) {
                throw new IllegalStateException("exactly one of scatterInto, scatterIntoDevice or deliverTo is required");
            }
            boolean device = options.transport() instanceof NcclTransport;
            if (device != (deviceDestinations != null)) {
                throw new IllegalStateException(device ? "the nccl transport needs scatterIntoDevice(...) (delivered "
                        + "mode is host-only)" : "device destinations need the nccl transport");
            }
            InetAddress address;
            try {
                address = InetAddress.getByName(host);
            } catch (UnknownHostException e) {
                throw new SyncException("unknown sender host " + host, e);
            }
            byte[] expected = expectedFingerprint == null ? new byte[0] : HexFormat.of().parseHex(expectedFingerprint);
            ReceiverControl control = new ReceiverControl(Clock.SYSTEM, options, host + ":" + port,
                    new Wire.JoinRequest(Wire.PROTOCOL_VERSION, token, expected, name), timeout);
            ControlLoop loop;
            try {
                loop = ControlLoop.client("sync-receiver-control", new InetSocketAddress(address, port), Clock.SYSTEM,
                        control);
            } catch (IOException e) {
                throw new ConnectionLostException("cannot connect to sender " + host + ":" + port + ": " + e, e);
            }
            try {
                BucketPlan plan = control.awaitPlan();
                ReceiverUpdates<?> updates = updatesFor(plan, address, message -> loop.post(() -> control.send(message)));
                loop.post(() -> control.send(new Wire.Accept()));
                return new WeightReceiver(loop, control, updates, plan);
            } catch (RuntimeException e) {
                // Declines the plan, so the sender frees the place at once and knows why (a no-op when the sender
                // refused, or the connection ended).
                loop.post(() -> control.decline(e));
                loop.close();
                throw e;
            }
        }

        /** The data plane for {@code plan}; throws naming the tensor when the destinations do not fit it. */
        private ReceiverUpdates<?> updatesFor(BucketPlan plan, InetAddress sender, Consumer<Wire.Message> toSender) {
            return switch (options.transport()) {
                case NcclTransport nccl -> new ReceiverUpdates<>(nccl, DeviceReceiverPipeline.create(plan,
                        nccl.device(), mode, Tensors.resolveDevice(plan, deviceDestinations, "destination")), sender,
                        plan, options.listener(), toSender);
                case HostTcpTransport host -> new ReceiverUpdates<>(host, consumer != null
                        ? HostReceiverPipeline.delivering(plan, mode, consumer)
                        : HostReceiverPipeline.scattering(plan, mode, Tensors.resolve(plan, destinations,
                                "destination")), sender, plan, options.listener(), toSender);
            };
        }
    }
}
