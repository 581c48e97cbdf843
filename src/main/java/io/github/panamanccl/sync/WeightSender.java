package io.github.panamanccl.sync;

import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DevicePlanStorage;
import io.github.panamanccl.bucket.HostPlanStorage;
import io.github.panamanccl.bucket.PlanCodec;
import io.github.panamanccl.bucket.PlanStorage;
import io.github.panamanccl.bucket.TensorSpec;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.IntStream;

/**
 * The trainer side: owns the plan, listens for receivers, and publishes version after version from the tensors
 * it was given (read at publish time, so the trainer updates them in place between publishes): packed into bucket
 * buffers from tensor maps, or, zero-copy, broadcast straight from plan-layout storage
 * ({@link Builder#sources(PlanStorage)}).
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
 * {@link #publish} throws an {@link UpdateFailedException} naming who failed, in which phase, and why; the next
 * publish re-forms the group. One control thread owns every connection and the update's state; the thread that
 * calls {@code publish} runs the data plane. Thread-safe; publishes are serialised.
 */
public final class WeightSender implements AutoCloseable {
    private final BucketPlan plan;
    private final int receivers;
    private final SyncListener listener;
    private final String transportName;
    private final int port;
    private final SenderControl control;
    private final ControlLoop loop;
    private final Publisher<?> publisher;
    private final Object publishLock = new Object();
    private long lastVersion = Long.MIN_VALUE; // guarded by publishLock
    private volatile boolean closed;

    private WeightSender(Builder b, BucketPlan plan, Publisher<?> publisher) throws IOException {
        this.plan = plan;
        this.receivers = b.receivers;
        this.listener = b.options.listener();
        this.transportName = b.options.transport().name();
        this.publisher = publisher;
        this.control = new SenderControl(Clock.SYSTEM, b.options, b.receivers, b.handshakeTimeout, plan,
                PlanCodec.encode(plan));
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            server.bind(new InetSocketAddress(b.bindAddress, b.port), b.receivers + SenderControl.BACKLOG);
            this.port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            this.loop = ControlLoop.server("sync-sender-control", server, Clock.SYSTEM, control);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
    }

    /**
     * A new builder; {@code receivers}, {@code token} and either {@code plan}/{@code inventory} with
     * {@code hostSources}/{@code deviceSources}, or {@code sources(PlanStorage)}, are required.
     */
    public static Builder builder() {
        return new Builder();
    }

    /** The control port receivers connect to. */
    public int port() {
        return port;
    }

    /** The plan every update follows (receivers learn it when they join). */
    public BucketPlan plan() {
        return plan;
    }

    /** Receivers holding a place: joined (whether or not in a formed group yet), or checking the plan they got. */
    public int connectedReceivers() {
        return loop.call(control::connectedReceivers, 0);
    }

    /**
     * Publishes {@code version} from the registered sources to every receiver; returns once every receiver has
     * committed it.
     *
     * @param version  must be greater than every version passed to an earlier publish, failed ones included: a
     *                 failed update may have reached some receivers, so a version never names two contents
     * @param deadline the whole update (including waiting for receivers and re-forming the group) must finish
     *                 within it
     * @throws UpdateFailedException    the update failed; {@link UpdateFailedException#reason()} says why (e.g.
     *                                  {@code DEADLINE}, {@code PEER_LOST}, {@code PLAN_MISMATCH}, {@code CLOSED}
     *                                  when {@link #close()} was called meanwhile), {@code phase()} where
     * @throws IllegalArgumentException the version was used before, or the deadline is not positive
     * @throws IllegalStateException    the sender was closed before this call
     */
    public UpdateReport publish(long version, Duration deadline) {
        Arguments.positive("deadline", deadline);
        synchronized (publishLock) {
            if (closed) {
                throw new IllegalStateException("sender is closed");
            }
            if (version <= lastVersion) {
                throw new IllegalArgumentException("version " + version + " is not greater than " + lastVersion
                        + ", the last version this sender published or tried to: a version names one content only");
            }
            lastVersion = version;
            Attempt attempt = new Attempt(version, UpdatePhase.AWAITING_RECEIVERS);
            long start = System.nanoTime();
            long deadlineNanos = start + deadline.toNanos();
            loop.post(() -> control.start(attempt, deadlineNanos, deadline));
            long calls;
            try {
                calls = publisher.run(attempt, loop, control, start, deadlineNanos, listener::onBucket);
            } catch (Exception e) {
                Failure standing = publisher.failed(attempt, e, loop, control);
                UpdateFailedException thrown = standing.toException("sender", version, null);
                if (thrown.getCause() != e) {
                    thrown.addSuppressed(e);
                }
                throw thrown;
            }
            UpdateReport report = new UpdateReport(version, 0, transportName, plan.totalBucketBytes(),
                    plan.bucketCount(), calls, Pipelines.seconds(System.nanoTime() - start),
                    IntStream.rangeClosed(1, receivers).boxed().toList());
            listener.onUpdate(report);
            return report;
        }
    }

    /**
     * Stops listening, fails an update in progress ({@code CLOSED}, its receivers are told), disconnects every
     * receiver and frees the bucket buffers. Idempotent.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        loop.close();
        synchronized (publishLock) { // a publish in progress ends at once: its attempt failed
            publisher.close();
        }
    }

    /** Configures and starts a {@link WeightSender}. */
    public static final class Builder {
        private SyncOptions options = SyncOptions.DEFAULTS;
        private BucketPlan plan;
        private List<TensorSpec> inventory;
        private long bucketCapBytes;
        private Map<String, MemorySegment> hostSources;
        private Map<String, DeviceMemory> deviceSources;
        private PlanStorage<?> storage;
        private int receivers;
        private InetAddress bindAddress = InetAddress.getLoopbackAddress();
        private int port;
        private Duration handshakeTimeout = Duration.ofSeconds(2);

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
         * its byte size. Read at every publish, on the sender's own threads: segments of {@code Arena.ofShared()},
         * {@code Arena.ofAuto()}, {@code Arena.global()} or heap segments.
         *
         * @throws IllegalArgumentException a segment is confined to one thread ({@code Arena.ofConfined()}) or its
         *                                  arena is closed, naming the tensor
         */
        public Builder hostSources(Map<String, MemorySegment> sources) {
            this.hostSources = Tensors.shareable(sources, "hostSources");
            this.deviceSources = null;
            return this;
        }

        /** The tensors to publish, by name, in device memory ({@link Transport#nccl} transport). */
        public Builder deviceSources(Map<String, DeviceMemory> sources) {
            this.deviceSources = Map.copyOf(sources);
            this.hostSources = null;
            return this;
        }

        /**
         * Zero-copy: the weights live in plan-layout storage, and each bucket is broadcast straight from it (no pack,
         * no bucket buffers). The storage carries the plan: use it instead of {@link #plan}/{@link #inventory} and the
         * tensor maps. A {@link DevicePlanStorage} needs {@link Transport#nccl} on its device, a
         * {@link HostPlanStorage} the host transport. The broadcasts read the live weights: finish writing them
         * before {@code publish} (device: the writing stream synchronized) and write again only once it returned.
         * The storage stays the application's: close it after the sender.
         */
        public Builder sources(PlanStorage<?> storage) {
            this.storage = Objects.requireNonNull(storage, "storage");
            this.hostSources = null;
            this.deviceSources = null;
            return this;
        }

        /** How many receivers make the group (world size = receivers + 1). */
        public Builder receivers(int receivers) {
            this.receivers = Arguments.atLeast("receivers", receivers, 1);
            return this;
        }

        /** The shared secret receivers must present (compared in constant time). */
        public Builder token(String token) {
            options = options.withToken(token);
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
            options = options.withTransport(transport);
            return this;
        }

        /** Told of every bucket broadcast, every completed update and every refused join; default: ignores all. */
        public Builder listener(SyncListener listener) {
            options = options.withListener(listener);
            return this;
        }

        /** The silence rule of every control connection (heartbeats run at a third of it). Default 10 s. */
        public Builder ioTimeout(Duration timeout) {
            options = options.withIoTimeout(timeout);
            return this;
        }

        /**
         * How long a new control connection may take to present its join request before it is turned away (BUSY);
         * a receiver sends it at once. Default 2 s.
         */
        public Builder handshakeTimeout(Duration timeout) {
            this.handshakeTimeout = Arguments.positive("handshakeTimeout", timeout);
            return this;
        }

        /** Largest control frame accepted from an authenticated receiver; default 64 MiB. */
        public Builder maxFrameBytes(int bytes) {
            options = options.withMaxFrameBytes(bytes, SenderControl.HANDSHAKE_FRAME_BYTES);
            return this;
        }

        /** Validates, binds the control port and starts accepting receivers. */
        public WeightSender start() {
            if (receivers == 0) {
                throw new IllegalStateException("receivers(...) is required");
            }
            options.requireToken();
            if (storage != null) {
                return startFromStorage();
            }
            if ((plan == null) == (inventory == null)) {
                throw new IllegalStateException("exactly one of plan(...) or inventory(...) is required");
            }
            BucketPlan resolved = plan != null ? plan : BucketPlanner.plan(inventory, bucketCapBytes);
            Publisher<?> publisher = switch (options.transport()) {
                case NcclTransport nccl -> {
                    if (deviceSources == null) {
                        throw new IllegalStateException("the nccl transport needs deviceSources(...)");
                    }
                    yield new Publisher<>(nccl, new DeviceSenderPipeline(resolved, nccl.device(),
                            Tensors.resolveDevice(resolved, deviceSources, "source")), bindAddress, receivers + 1);
                }
                case HostTcpTransport host -> {
                    if (hostSources == null) {
                        throw new IllegalStateException("the " + host.name() + " transport needs hostSources(...)");
                    }
                    yield new Publisher<>(host, new HostSenderPipeline(resolved,
                            Tensors.resolve(resolved, hostSources, "source")), bindAddress, receivers + 1);
                }
            };
            return start(resolved, publisher);
        }

        private WeightSender startFromStorage() {
            if (plan != null || inventory != null || hostSources != null || deviceSources != null) {
                throw new IllegalStateException("sources(PlanStorage) carries the plan and the tensors: drop plan(...), "
                        + "inventory(...), hostSources(...) and deviceSources(...)");
            }
            return start(storage.plan(), StorageSync.publisher(storage, options.transport(), bindAddress,
                    receivers + 1));
        }

        private WeightSender start(BucketPlan resolved, Publisher<?> publisher) {
            try {
                return new WeightSender(this, resolved, publisher);
            } catch (IOException e) {
                publisher.close();
                throw new SyncException("cannot listen on " + bindAddress + ":" + port + ": " + e.getMessage(), e);
            } catch (RuntimeException e) {
                publisher.close();
                throw e;
            }
        }
    }
}
