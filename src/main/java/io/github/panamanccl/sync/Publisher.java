package io.github.panamanccl.sync;

import java.net.InetAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The sender's data plane, run by the thread that calls {@code publish} (the CUDA device is per thread): the
 * transport, the pipeline and the group they share, all of group type {@code G}. It waits on the update's
 * {@link Attempt} for the phase it needs, forms the group when the control thread asks for it, broadcasts, and
 * posts each step to the control thread. A failure anywhere aborts the group from the thread that saw it.
 *
 * @param <G> {@link Transport.HostGroup} or {@link Transport.DeviceGroup}
 */
final class Publisher<G extends Transport.Group> implements AutoCloseable {
    /** How long past its deadline the data plane waits for the control thread before it gives up on it. */
    private static final long CONTROL_SLACK_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final GroupTransport<G> transport;
    private final SenderPipeline<G> pipeline;
    private final InetAddress bindAddress;
    private final int worldSize;
    private G group;

    Publisher(GroupTransport<G> transport, SenderPipeline<G> pipeline, InetAddress bindAddress, int worldSize) {
        this.transport = transport;
        this.pipeline = pipeline;
        this.bindAddress = bindAddress;
        this.worldSize = worldSize;
    }

    /**
     * Runs the data plane of {@code attempt}, which {@code control} runs on {@code loop}; returns the broadcasts it
     * issued once every receiver has acknowledged.
     *
     * @throws Exception whatever ended it; the attempt's failure is what stands
     */
    long run(Attempt attempt, ControlLoop loop, SenderControl control, long startNanos, long deadlineNanos,
            Consumer<BucketProgress> progress) throws Exception {
        if (awaitPhase(attempt, UpdatePhase.FORMING_GROUP, deadlineNanos) == UpdatePhase.FORMING_GROUP) {
            discardGroup();
            try (GroupTransport.RootFormation<G> rendezvous = transport.openRendezvous(bindAddress, worldSize)) {
                attempt.attach(rendezvous::abort);
                byte[] bytes = rendezvous.bytes();
                loop.post(() -> control.rendezvousOpened(attempt, bytes));
                group = rendezvous.awaitGroup(deadlineNanos);
            }
            loop.post(() -> control.rootFormed(attempt));
        }
        awaitPhase(attempt, UpdatePhase.TRANSFER, deadlineNanos);
        G g = group;
        attempt.attach(g::abort);
        long callsBefore = g.collectiveCalls();
        pipeline.run(attempt.version(), g, startNanos, deadlineNanos, progress);
        attempt.throwIfFailed();
        loop.post(() -> control.transferred(attempt));
        if (!attempt.awaitOutcome(deadlineNanos - System.nanoTime() + CONTROL_SLACK_NANOS)) {
            giveUpIfUnsettled(attempt);
            attempt.throwIfFailed();
        }
        return g.collectiveCalls() - callsBefore;
    }

    /** Waits for {@code wanted} (or a later phase); throws once the attempt has failed. */
    private static UpdatePhase awaitPhase(Attempt attempt, UpdatePhase wanted, long deadlineNanos) {
        UpdatePhase reached = attempt.awaitPhase(wanted, deadlineNanos - System.nanoTime() + CONTROL_SLACK_NANOS);
        if (reached.compareTo(wanted) < 0) {
            giveUpIfUnsettled(attempt);
        }
        attempt.throwIfFailed();
        return reached;
    }

    /** The control thread settles every attempt by its deadline; if it has not, it is gone. */
    private static void giveUpIfUnsettled(Attempt attempt) {
        attempt.fail(new Failure(FailureReason.LOCAL_ERROR, 0, null, "the sender's control thread did not settle "
                + "the update by its deadline", null));
    }

    /**
     * After {@code e} ended the data plane of {@code attempt}: the control thread fails the attempt with {@code e}
     * unless it has failed already (it tells the receivers, then aborts the group), and tells the receivers what
     * stands. Frees the group; returns the failure that stands.
     */
    Failure failed(Attempt attempt, Exception e, ControlLoop loop, SenderControl control) {
        Failure own = attempt.settled() ? attempt.failure() : Failure.of(e, 0);
        loop.post(() -> control.dataPlaneFailed(attempt, own));
        if (!attempt.awaitOutcome(CONTROL_SLACK_NANOS) && !attempt.settled()) {
            attempt.fail(own); // the control thread is gone: nobody else can
        }
        discardGroup();
        return attempt.failure();
    }

    /** Aborts and frees the group; the next update forms a new one. */
    private void discardGroup() {
        Pipelines.discard(group);
        group = null;
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
