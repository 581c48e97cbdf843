package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sender and receivers in one JVM over real sockets, under the faults and traffic a new user or any local user can
 * produce: a missing receiver, a receiver that corrects its tensors and retries at once, silent connections flooding
 * the data port while a group forms, and a sustained flood of the control port. Each reports what it measured.
 */
@Timeout(120)
class HostileTrafficTest {
    private final BucketPlan plan = SyncFixtures.plan(1);

    /** The sender's threads do not grow with its receivers: one control thread and the packer. */
    @Test
    void a_sender_with_eight_receivers_runs_one_control_thread_and_the_packer() throws Exception {
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newFixedThreadPool(8);
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(8).token(SyncFixtures.TOKEN).start()) {
            List<WeightReceiver> receivers = new ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    receivers.add(WeightReceiver.builder().sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN)
                            .name("engine-" + i).deliverTo(bucket -> { }).join(Duration.ofSeconds(5)));
                }
                List<Future<Optional<UpdateReport>>> received = new ArrayList<>();
                for (WeightReceiver receiver : receivers) {
                    received.add(pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(30))));
                }
                assertEquals(List.of(1, 2, 3, 4, 5, 6, 7, 8), sender.publish(1, Duration.ofSeconds(30))
                        .acknowledgedRanks());
                for (Future<Optional<UpdateReport>> r : received) {
                    assertEquals(1, r.get().orElseThrow().version());
                }
                List<String> threads = Thread.getAllStackTraces().keySet().stream().map(Thread::getName)
                        .filter(name -> name.startsWith("sync-sender")).sorted().toList();
                assertEquals(List.of("sync-sender-control", "sync-sender-pack"), threads);
                Measurements.report("threads", "sender with 8 receivers: " + threads.size() + " " + threads);
            } finally {
                receivers.forEach(WeightReceiver::close);
            }
        }
    }

    /** With one of two receivers missing, every run's failure names the missing receiver, not only the deadline. */
    @Test
    void a_missing_receiver_is_named_as_missing_in_every_run() throws Exception {
        int runs = 40;
        int named = 0;
        String sample = null;
        try (Arena arena = Arena.ofShared();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(2).token(SyncFixtures.TOKEN).start();
             WeightReceiver present = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                     .token(SyncFixtures.TOKEN).name("present").deliverTo(bucket -> { }).join(Duration.ofSeconds(5))) {
            for (int version = 1; version <= runs; version++) {
                int v = version;
                UpdateFailedException e = SyncFixtures.assertFails(FailureReason.DEADLINE,
                        () -> sender.publish(v, Duration.ofMillis(200)));
                assertEquals(UpdatePhase.AWAITING_RECEIVERS, e.phase());
                if (e.getMessage().contains("only 1 of 2 receivers are connected ('present' at ")
                        && e.getMessage().contains("1 missing")) {
                    named++;
                }
                sample = e.getMessage();
            }
            assertEquals(new ReceiverState.Empty(), present.state(), "no update ever began");
        }
        Measurements.report("missing receiver", named + " of " + runs + " runs name it; e.g. " + sample);
        assertEquals(runs, named, sample);
    }

    /**
     * A receiver whose tensors do not fit the plan declines it: the sender frees the place at once and learns why
     * (its listener, and a publish waiting for that receiver, name the reason), and the corrected receiver, joining
     * right after, never sees GROUP_FULL.
     */
    @Test
    void a_receiver_that_declines_the_plan_frees_its_place_at_once_and_the_sender_learns_why() throws Exception {
        int tries = 20;
        int joined = 0;
        for (int i = 0; i < tries; i++) {
            List<String> rejections = new CopyOnWriteArrayList<>();
            try (Arena arena = Arena.ofShared();
                 WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                         .receivers(1).token(SyncFixtures.TOKEN).listener(SyncFixtures.recordingRejections(rejections)).start()) {
                Map<String, MemorySegment> good = SyncFixtures.allocate(plan, arena);
                Map<String, MemorySegment> missingOne = new HashMap<>(good);
                missingOne.remove(plan.tensor(0).name());
                JoinRejectedException misfit = org.junit.jupiter.api.Assertions.assertThrows(
                        JoinRejectedException.class, () -> WeightReceiver.builder().sender("127.0.0.1", sender.port())
                                .token(SyncFixtures.TOKEN).name("engine").scatterInto(missingOne)
                                .join(Duration.ofSeconds(5)));
                assertEquals(FailureReason.PLAN_MISMATCH, misfit.reason());
                assertTrue(misfit.getMessage().contains(plan.tensor(0).name()), misfit.getMessage());
                if (i == 0) { // the sender's view of the declined receiver, before the corrected one joins
                    UpdateFailedException e = SyncFixtures.assertFails(FailureReason.DEADLINE,
                            () -> sender.publish(1, Duration.ofMillis(300)));
                    assertTrue(e.getMessage().contains("'engine' at ") && e.getMessage().contains(
                            "declined the plan (PLAN_MISMATCH): this receiver declines the plan: no destination for tensor "
                                    + plan.tensor(0).name()),
                            e.getMessage());
                    assertEquals(1, rejections.size(), rejections.toString());
                    assertTrue(rejections.getFirst().startsWith("PLAN_MISMATCH: the receiver declined: "),
                            rejections.toString());
                }
                try (WeightReceiver corrected = WeightReceiver.builder().sender("127.0.0.1", sender.port())
                        .token(SyncFixtures.TOKEN).scatterInto(good).join(Duration.ofSeconds(5))) {
                    assertEquals(plan.fingerprint(), corrected.plan().fingerprint());
                    joined++;
                }
            }
        }
        Measurements.report("immediate retry", "a corrected receiver joined right after its declined join in " + joined
                + " of " + tries + " tries (GROUP_FULL in " + (tries - joined) + ")");
        assertEquals(tries, joined);
    }

    /**
     * Silent connections to the host transport's data port while the group forms (any local user sees the port):
     * the legitimate receiver is still accepted and acknowledged, and the update succeeds, not at its deadline.
     */
    @ParameterizedTest
    @ValueSource(ints = {64, 500})
    void a_data_port_flood_while_the_group_forms_does_not_stall_the_update(int silent) throws Exception {
        List<SilentFlood> floods = new CopyOnWriteArrayList<>();
        Map<String, MemorySegment> sources = SyncFixtures.allocate(plan, Arena.global());
        SyncFixtures.fill(plan, sources, 1);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1)
                     .token(SyncFixtures.TOKEN).start();
             ControlProxy proxy = new ControlProxy(sender.port())) {
            Map<String, MemorySegment> destinations = SyncFixtures.allocate(plan, arena);
            try (WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", proxy.port())
                    .token(SyncFixtures.TOKEN).scatterInto(destinations).join(Duration.ofSeconds(5))) {
                proxy.rewriteFromSender(message -> {
                    if (message instanceof Wire.FormGroup g) { // the flood is in place before the receiver connects
                        SilentFlood flood = new SilentFlood(ByteBuffer.wrap(g.rendezvous()).getInt(), silent);
                        floods.add(flood);
                        try {
                            flood.awaitOpened(silent, Duration.ofSeconds(30));
                        } catch (InterruptedException e) {
                            throw new AssertionError(e);
                        }
                    }
                    return message;
                });
                Future<Optional<UpdateReport>> received = pool.submit(() -> receiver.awaitUpdate(Duration.ofSeconds(60)));
                long start = System.nanoTime();
                UpdateReport report = sender.publish(1, Duration.ofSeconds(30));
                long elapsed = System.nanoTime() - start;
                assertEquals(List.of(1), report.acknowledgedRanks());
                assertEquals(1, received.get(30, TimeUnit.SECONDS).orElseThrow().version());
                assertNull(SyncFixtures.firstMismatch(plan, destinations, 1));
                assertEquals(1, floods.size());
                Measurements.report("data-port flood", silent + " silent connections (" + floods.getFirst().opened()
                        + " opened in all) while the group formed: update succeeded in "
                        + TimeUnit.NANOSECONDS.toMillis(elapsed) + " ms");
            }
        } finally {
            for (SilentFlood flood : floods) {
                flood.close();
            }
        }
    }

    /**
     * Silent connections to the control port, each reopened as soon as the sender closes it: a receiver that
     * retries every 200 ms joins within the sender's handshake deadline, and any refusal the sender gives it is a
     * typed BUSY.
     */
    @ParameterizedTest
    @ValueSource(ints = {64, 512})
    void a_sustained_control_port_flood_does_not_keep_a_retrying_receiver_out(int silent) throws Exception {
        Duration handshake = Duration.ofSeconds(2);
        try (Arena arena = Arena.ofShared(); ExecutorService pool = Executors.newSingleThreadExecutor();
             WeightSender sender = WeightSender.builder().plan(plan).hostSources(SyncFixtures.allocate(plan, arena))
                     .receivers(1).token(SyncFixtures.TOKEN).handshakeTimeout(handshake).start();
             SilentFlood flood = new SilentFlood(sender.port(), silent)) {
            flood.awaitOpened(silent, Duration.ofSeconds(30));
            long start = System.nanoTime();
            List<String> refusals = new ArrayList<>();
            WeightReceiver receiver = null;
            while (receiver == null && System.nanoTime() - start < TimeUnit.SECONDS.toNanos(30)) {
                try {
                    receiver = WeightReceiver.builder().sender("127.0.0.1", sender.port()).token(SyncFixtures.TOKEN)
                            .deliverTo(bucket -> { }).join(Duration.ofSeconds(5));
                } catch (JoinRejectedException e) {
                    assertEquals(FailureReason.BUSY, e.reason(), e.getMessage());
                    refusals.add(e.reason().name());
                    TimeUnit.MILLISECONDS.sleep(200); // the user's retry interval
                } catch (ConnectionLostException e) { // the kernel refused the connection: not the sender's answer
                    refusals.add("connect: " + e.getMessage());
                    TimeUnit.MILLISECONDS.sleep(200);
                }
            }
            long elapsed = System.nanoTime() - start;
            try (WeightReceiver joined = receiver) {
                assertTrue(joined != null && elapsed < handshake.toNanos(), "joined after "
                        + TimeUnit.NANOSECONDS.toMillis(elapsed) + " ms, refusals " + refusals);
                WeightReceiver serving = joined;
                Future<Optional<UpdateReport>> received = pool.submit(() -> serving.awaitUpdate(Duration.ofSeconds(60)));
                assertEquals(List.of(1), sender.publish(1, Duration.ofSeconds(30)).acknowledgedRanks());
                assertEquals(1, received.get(30, TimeUnit.SECONDS).orElseThrow().version());
                Measurements.report("control-port flood", silent + " silent connections, reopened as closed ("
                        + flood.opened() + " opened by the end): a retrying receiver joined after "
                        + TimeUnit.NANOSECONDS.toMillis(elapsed) + " ms (" + (refusals.size() + 1) + " tries, refused "
                        + refusals + "), handshake deadline " + handshake.toMillis() + " ms");
            }
        }
    }
}
