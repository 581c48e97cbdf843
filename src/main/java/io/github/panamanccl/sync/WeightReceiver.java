package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.bucket.PlanFormatException;
import io.github.panamanccl.bucket.PlanStorage;
import io.github.panamanccl.bucket.TensorSpec;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The engine side: joins a {@link WeightSender}, learns the plan, and applies updates either by scattering each
 * bucket into destination tensors registered up front ({@link Builder#scatterInto}), by handing each bucket to
 * the application ({@link Builder#deliverTo}), or, zero-copy, by receiving each bucket straight into plan-layout
 * storage ({@link Builder#receiveInto(PlanStorage)}, {@link Builder#receiveInto(PlanStorage, PlanStorage)},
 * {@link Builder#allocateStorage()}). Allocates only its bucket buffers ({@link CommitMode#IN_PLACE}; none when it
 * scatters host buckets, which it reads straight into the tensors) or one staging area ({@link CommitMode#STAGED});
 * into storage, nothing in place, and the second storage to flip to when staged.
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
    /** Where the updates land in the storage modes (what the application reads them through); null otherwise. */
    private final StorageTarget<?> storage;
    private final Object updateLock = new Object();
    private volatile boolean closed;

    private WeightReceiver(ControlLoop loop, ReceiverControl control, ReceiverUpdates<?> updates, BucketPlan plan,
            StorageTarget<?> storage) {
        this.loop = loop;
        this.control = control;
        this.updates = updates;
        this.plan = plan;
        this.storage = storage;
    }

    /**
     * A new builder; {@code sender}, {@code token} and exactly one of {@code scatterInto}, {@code scatterIntoDevice},
     * {@code deliverTo}, {@code receiveInto} or {@code allocateStorage} are required.
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

    /**
     * Bytes held for bucket buffers or staging (host or device memory, by transport); in the storage modes what is
     * held besides one copy of the weights: 0 in place, one storage when flipping.
     */
    public long bufferBytes() {
        return updates.bufferBytes();
    }

    /**
     * The storage {@link CommitMode#IN_PLACE} receives into ({@link Builder#receiveInto(PlanStorage)}, or the one
     * {@link Builder#allocateStorage()} allocated from the plan): the live weights, written by every update, torn
     * when one fails ({@link #state()}).
     *
     * @param kind {@code DevicePlanStorage.class} (NCCL) or {@code HostPlanStorage.class} (host transport)
     * @throws IllegalStateException this receiver does not receive in place into storage, or not of that kind
     */
    public <S extends PlanStorage<?>> S storage(Class<S> kind) {
        if (!(storage instanceof StorageTarget.InPlace<?> inPlace) || !kind.isInstance(inPlace.storage())) {
            throw new IllegalStateException("this receiver holds no " + kind.getSimpleName() + " it receives into in "
                    + "place (it " + storageDescription() + ")");
        }
        return kind.cast(inPlace.storage());
    }

    /**
     * The weights {@link CommitMode#STAGED} flips between ({@link Builder#receiveInto(PlanStorage, PlanStorage)}, or
     * {@link Builder#allocateStorage()}): read them through its leases.
     *
     * @param kind {@code DevicePlanStorage.class} (NCCL) or {@code HostPlanStorage.class} (host transport)
     * @throws IllegalStateException this receiver does not flip between storages, or not of that kind
     */
    @SuppressWarnings("unchecked") // the storages' class is checked
    public <S extends PlanStorage<?>> StagedWeights<S> stagedWeights(Class<S> kind) {
        if (!(storage instanceof StorageTarget.Flip<?> flip) || !kind.isInstance(flip.weights().storage(0))) {
            throw new IllegalStateException("this receiver holds no staged weights in " + kind.getSimpleName()
                    + " (it " + storageDescription() + ")");
        }
        return (StagedWeights<S>) flip.weights();
    }

    private String storageDescription() {
        return switch (storage) {
            case null -> "scatters into or delivers to the application's tensors";
            case StorageTarget.InPlace<?> inPlace -> "receives in place into " + inPlace.storage();
            case StorageTarget.Flip<?> flip -> "flips between two " + flip.weights().storage(0).getClass().getSimpleName()
                    + "s";
        };
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
        private ReceiverExpectations expectations = ReceiverExpectations.NONE;
        private CommitMode mode = CommitMode.STAGED;
        private Map<String, MemorySegment> destinations;
        private Map<String, DeviceMemory> deviceDestinations;
        private BucketConsumer consumer;
        /** The storage modes: the storages given (empty: allocated from the plan); null otherwise. */
        private List<PlanStorage<?>> storages;

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

        /**
         * Refuse to join unless the sender's plan has this fingerprint ({@link BucketPlan#fingerprint()}): the same
         * tensors and the same layout, bucket size included. To require the tensors whatever the bucket size, use
         * {@link #expectInventory}.
         */
        public Builder expectPlan(String fingerprint) {
            HexFormat.of().parseHex(fingerprint); // validates
            this.expectedFingerprint = fingerprint;
            return this;
        }

        /**
         * Refuse to join unless the sender's tensors are exactly these: the same names, dtypes and shapes in the same
         * order (whatever the bucket size the sender chose). {@link #scatterInto} alone checks names and byte sizes
         * only, so a bf16 destination would take an fp16 tensor of the same shape; with this the join is declined
         * ({@link JoinRejectedException}, {@code PLAN_MISMATCH}) naming the first tensor that differs and both its
         * dtypes and shapes, and the sender is told why.
         *
         * @throws PlanFormatException two tensors share a name
         */
        public Builder expectInventory(List<TensorSpec> tensors) {
            expectations = expectations.withTensors(tensors);
            return this;
        }

        /**
         * Refuse to join unless the sender's tensors have this fingerprint ({@link Inventory#fingerprint()},
         * {@link BucketPlan#inventoryFingerprint()}: names, dtypes, shapes and order, not the bucket size), for a
         * receiver that pins a model without listing it. A plan of other tensors is declined
         * ({@link JoinRejectedException}, {@code PLAN_MISMATCH}) naming both fingerprints.
         *
         * @throws IllegalArgumentException the fingerprint is not 64 hex digits
         */
        public Builder expectInventory(String inventoryFingerprint) {
            expectations = expectations.withInventoryFingerprint(Objects.requireNonNull(inventoryFingerprint,
                    "inventoryFingerprint"));
            return this;
        }

        /**
         * The most memory this receiver allocates for the plan's bucket buffers ({@link CommitMode#IN_PLACE}: two
         * of the largest bucket) or staging area ({@link CommitMode#STAGED}: every bucket); a plan that needs more is
         * refused at join with a {@link ProtocolException} naming its sizes. Default: twice the plan's tensor bytes
         * plus 16 MiB. With destinations the tensors are this receiver's own, so the default bounds what the sender's
         * plan can add as padding; a delivered-mode receiver takes the plan's tensors as they come. For
         * {@link #allocateStorage()} it bounds the storage allocated from the plan (two storages when staged); the
         * default allows each storage twice the plan's tensor bytes plus 16 MiB.
         */
        public Builder maxBufferBytes(long bytes) {
            expectations = expectations.withMaxBufferBytes(bytes);
            return this;
        }

        /** Default {@link CommitMode#STAGED}. */
        public Builder commitMode(CommitMode mode) {
            this.mode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /**
         * Scatter mode: every tensor of the plan, by name, each exactly its byte size (checked at join; add
         * {@link #expectInventory} to check dtypes and shapes too). Written on the receiver's own threads and on the
         * one that calls {@link #awaitUpdate}: segments of {@code Arena.ofShared()}, {@code Arena.ofAuto()},
         * {@code Arena.global()} or heap segments.
         *
         * @throws IllegalArgumentException a segment is confined to one thread ({@code Arena.ofConfined()}) or its
         *                                  arena is closed, naming the tensor
         */
        public Builder scatterInto(Map<String, MemorySegment> destinations) {
            this.destinations = Tensors.shareable(destinations, "scatterInto");
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

        /**
         * Zero-copy, {@link CommitMode#IN_PLACE}: each broadcast lands straight in {@code storage}, the application's
         * live weights (no bucket buffers, no scatter); a failed update leaves them {@link ReceiverState.Torn}. The
         * storage must be laid out by the sender's plan (checked at join: a receiver on another plan declines it,
         * {@link FailureReason#PLAN_MISMATCH}); a {@link DevicePlanStorage} needs {@link Transport#nccl} on its device,
         * a {@link HostPlanStorage} the host transport. It stays the application's: close it after the receiver.
         */
        public Builder receiveInto(PlanStorage<?> storage) {
            return storages(List.of(storage));
        }

        /**
         * Zero-copy, {@link CommitMode#STAGED} as a flip: each update is broadcast straight into whichever of the two
         * storages nobody reads, and its commit switches which one {@link WeightReceiver#stagedWeights} hands out:
         * readers see one version or the other, never a mix, and a failed update leaves the committed one untouched.
         * Memory: twice the weights. Checked like {@link #receiveInto(PlanStorage)}; both stay the application's.
         */
        public Builder receiveInto(PlanStorage<?> first, PlanStorage<?> second) {
            return storages(List.of(first, second));
        }

        /**
         * Zero-copy into storage the receiver allocates from the plan it receives at join, for a receiver that does
         * not know the inventory in advance: one storage received into {@link CommitMode#IN_PLACE}
         * ({@link WeightReceiver#storage}), two flipped between when {@link CommitMode#STAGED}
         * ({@link WeightReceiver#stagedWeights}). Device memory on the NCCL transport's device
         * ({@link DevicePlanStorage}), else arena memory ({@link HostPlanStorage}), in one segment for all buckets,
         * zeroed; freed when the receiver closes.
         */
        public Builder allocateStorage() {
            return storages(List.of());
        }

        private Builder storages(List<PlanStorage<?>> given) {
            this.storages = given;
            this.destinations = null;
            this.deviceDestinations = null;
            this.consumer = null;
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
         * Connects, authenticates, receives the plan and checks it against what this receiver expects (its
         * tensors by {@link #expectInventory}, its destinations by name and size, {@link #expectPlan},
         * {@link #maxBufferBytes}), allocates the buffers, then
         * takes its place. A plan this receiver turns down is declined, and the sender is told why. The transport
         * group is formed later, inside {@link #awaitUpdate}.
         *
         * @param timeout bounds the whole join: connecting, the join request and the sender's answer
         * @throws IllegalArgumentException the timeout is not positive
         * @throws IllegalStateException    a required setting is missing
         * @throws JoinRejectedException    the sender refused ({@link JoinRejectedException#reason()}: wrong token,
         *                                  plan mismatch, group full, busy: retry), or this receiver declined the
         *                                  sender's plan ({@code PLAN_MISMATCH}, naming the tensor that differs from
         *                                  {@link #expectInventory} or does not fit its destination)
         * @throws ProtocolException        the sender's answer was malformed or too large, e.g. a plan that does not
         *                                  decode (its {@link PlanFormatException} is the cause), or one whose
         *                                  buffers exceed {@link #maxBufferBytes} or cannot be allocated
         * @throws ConnectionLostException  the sender could not be reached, or did not answer within the timeout
         */
        public WeightReceiver join(Duration timeout) {
            Arguments.positive("timeout", timeout);
            if (port < 0) {
                throw new IllegalStateException("sender(host, port) is required");
            }
            byte[] token = options.requireToken();
            if ((destinations != null ? 1 : 0) + (consumer != null ? 1 : 0) + (deviceDestinations != null ? 1 : 0)
                    + (storages != null ? 1 : 0) != 1) {
                throw new IllegalStateException("exactly one of scatterInto, scatterIntoDevice, deliverTo, receiveInto "
                        + "or allocateStorage is required");
            }
            boolean device = options.transport() instanceof NcclTransport;
            if (storages != null) {
                StorageSync.checkReceiverStorage(storages, mode, options.transport());
            } else if (device != (deviceDestinations != null)) {
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
                Consumer<Wire.Message> toSender = message -> loop.post(() -> control.send(message));
                StorageSync.Receiving receiving = storages == null ? null : storageFor(plan, address, toSender);
                ReceiverUpdates<?> updates = receiving != null ? receiving.updates() : updatesFor(plan, address, toSender);
                loop.post(() -> control.send(new Wire.Accept()));
                return new WeightReceiver(loop, control, updates, plan, receiving == null ? null : receiving.target());
            } catch (RuntimeException | Error e) {
                // Declines the plan, so the sender frees the place at once and knows why (a no-op when the sender
                // refused, or the connection ended); an Error too ends the connection and its thread.
                loop.post(() -> control.decline(e));
                loop.close();
                throw e;
            }
        }

        /**
         * The data plane for {@code plan}. Tensors other than {@link #expectInventory}'s and destinations that do not
         * fit it (names, sizes) decline it, naming the tensor; then its buffers must fit the budget.
         */
        private ReceiverUpdates<?> updatesFor(BucketPlan plan, InetAddress sender, Consumer<Wire.Message> toSender) {
            expectations.checkInventory(plan);
            return ReceiverExpectations.allocatedFor(plan, mode + " receive buffers", () -> switch (options.transport()) {
                case NcclTransport nccl -> {
                    long[] addresses = fitted(() -> Tensors.resolveDevice(plan, deviceDestinations, "destination"));
                    expectations.checkBudget(plan, mode);
                    yield new ReceiverUpdates<>(nccl, DeviceReceiverPipeline.create(plan, nccl.device(), mode,
                            addresses), sender, plan, options.listener(), toSender);
                }
                case HostTcpTransport host -> {
                    MemorySegment[] resolved = consumer != null ? null
                            : fitted(() -> Tensors.resolve(plan, destinations, "destination"));
                    expectations.checkBudget(plan, mode);
                    HostReceiverPipeline pipeline = consumer != null
                            ? HostReceiverPipeline.delivering(plan, mode, consumer)
                            : HostReceiverPipeline.scattering(plan, mode, resolved);
                    yield new ReceiverUpdates<>(host, pipeline, sender, plan, options.listener(), toSender);
                }
            });
        }

        /**
         * The zero-copy data plane for {@code plan}: its tensors must be {@link #expectInventory}'s, and storage the
         * receiver allocates from it must fit the budget, as buffers do.
         */
        private StorageSync.Receiving storageFor(BucketPlan plan, InetAddress sender, Consumer<Wire.Message> toSender) {
            expectations.checkInventory(plan);
            if (storages.isEmpty()) {
                expectations.checkStorageBudget(plan, mode == CommitMode.STAGED ? 2 : 1);
            }
            return ReceiverExpectations.allocatedFor(plan, "storage", () -> StorageSync.receiver(plan, mode, storages,
                    options.transport(), sender, options.listener(), toSender));
        }

        /** The destinations as {@code resolve} matches them to the plan; a misfit declines the plan. */
        private static <T> T fitted(Supplier<T> resolve) {
            try {
                return resolve.get();
            } catch (IllegalArgumentException misfit) {
                throw ReceiverExpectations.mismatch(misfit.getMessage());
            }
        }
    }
}
