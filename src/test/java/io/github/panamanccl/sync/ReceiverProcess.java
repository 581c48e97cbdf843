package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A receiver in its own JVM, driven by key=value arguments, reporting one line per event on stdout for
 * {@link MultiProcessSyncTest}: JOINED, REJECTED, PAUSED, COMMITTED, FAILED, NATIVE, LOST.
 *
 * <p>Arguments: port, token, name, mode (scatter|deliver), commit (staged|in-place), pause (version:bucket: the
 * receive thread blocks forever there, as a hung or dying engine would), expectPlan (fingerprint), exitAfter
 * (version), nativeAt (comma-separated versions at which to report NMT and the sync ledger), maxFrame.
 */
public final class ReceiverProcess {
    private static final Pattern NMT_OTHER = Pattern.compile("-\\s+Other \\(reserved=(\\d+)KB, committed=(\\d+)KB\\)");

    private ReceiverProcess() {
    }

    public static void main(String[] argv) throws Exception {
        Map<String, String> args = arguments(argv);
        long exitAfter = Long.parseLong(args.getOrDefault("exitAfter", "-1"));
        String pause = args.getOrDefault("pause", "");
        String nativeAt = "," + args.getOrDefault("nativeAt", "") + ",";
        CommitMode commit = args.getOrDefault("commit", "staged").equals("staged") ? CommitMode.STAGED : CommitMode.IN_PLACE;
        boolean deliver = args.getOrDefault("mode", "scatter").equals("deliver");
        Arena arena = Arena.ofShared();
        // Destinations need the plan, which only the sender knows: join with the plan of the agreed scale.
        BucketPlan expected = SyncFixtures.plan(Integer.parseInt(args.getOrDefault("scale", "1")));
        Map<String, MemorySegment> model = SyncFixtures.allocate(expected, arena);
        WeightReceiver.Builder builder = WeightReceiver.builder()
                .sender("127.0.0.1", Integer.parseInt(args.get("port")))
                .token(args.getOrDefault("token", SyncFixtures.TOKEN))
                .name(args.getOrDefault("name", "child"))
                .commitMode(commit)
                .ioTimeout(Duration.ofSeconds(5))
                .listener(new SyncListener() {
                    @Override
                    public void onBucket(BucketProgress p) {
                        if (pause.equals(p.version() + ":" + p.bucket())) {
                            say("PAUSED version=" + p.version() + " bucket=" + p.bucket());
                            while (true) {
                                try {
                                    Thread.sleep(60_000);
                                } catch (InterruptedException e) {
                                    // keep hanging: this process plays a hung engine
                                }
                            }
                        }
                    }
                });
        if (args.containsKey("expectPlan")) {
            builder.expectPlan(args.get("expectPlan"));
        }
        if (args.containsKey("maxFrame")) {
            builder.maxFrameBytes(Integer.parseInt(args.get("maxFrame")));
        }
        if (deliver) {
            builder.deliverTo(bucket -> InProcessSyncTest.copyPieces(bucket, model));
        } else {
            builder.scatterInto(model);
        }
        WeightReceiver receiver;
        try {
            receiver = builder.join(Duration.ofSeconds(10));
        } catch (SyncException e) {
            String reason = e instanceof JoinRejectedException j ? j.reason().name() : e.getClass().getSimpleName();
            say("REJECTED reason=" + reason + " message=" + e.getMessage());
            System.exit(2);
            return;
        }
        BucketPlan plan = receiver.plan();
        say("JOINED buffers=" + receiver.bufferBytes() + " plan=" + plan.fingerprint());
        while (true) {
            try {
                Optional<UpdateReport> report = receiver.awaitUpdate(Duration.ofSeconds(60));
                if (report.isEmpty()) {
                    continue;
                }
                long v = report.get().version();
                say("COMMITTED version=" + v + " mismatch=" + SyncFixtures.firstMismatch(plan, model, v)
                        + " digest=" + SyncFixtures.digest(plan, model) + " state=" + receiver.state()
                        + " calls=" + report.get().collectiveCalls() + " rank=" + report.get().rank());
                if (nativeAt.contains("," + v + ",")) {
                    say("NATIVE version=" + v + " ledger=" + NativeMemoryLedger.liveBytes() + " nmtOtherKb="
                            + nmtOtherCommittedKb());
                }
                if (v == exitAfter) {
                    receiver.close();
                    System.exit(0);
                }
            } catch (UpdateFailedException e) {
                ReceiverState state = receiver.state();
                String intact = state instanceof ReceiverState.Committed c
                        ? String.valueOf(SyncFixtures.firstMismatch(plan, model, c.version()) == null) : "n/a";
                String require;
                try {
                    require = "version " + state.requireCommitted();
                } catch (RuntimeException r) {
                    require = r.getClass().getSimpleName();
                }
                say("FAILED version=" + e.version() + " reason=" + e.reason() + " phase=" + e.phase() + " failedRank="
                        + e.failedRank() + " state=" + state.getClass().getSimpleName() + " intact=" + intact
                        + " requireCommitted=" + require.replace(' ', '_') + " message=" + e.getMessage());
            } catch (ConnectionLostException e) {
                say("LOST message=" + e.getMessage());
                System.exit(3);
            }
        }
    }

    /**
     * NMT "Other" committed KB (where FFM arena allocations are counted), or -1 without NMT. Reflective, because
     * the test classes are compiled into the library's module, which does not read java.management.
     */
    static long nmtOtherCommittedKb() throws Exception {
        Object server = Class.forName("java.lang.management.ManagementFactory")
                .getMethod("getPlatformMBeanServer").invoke(null);
        Class<?> objectName = Class.forName("javax.management.ObjectName");
        Object name = objectName.getConstructor(String.class).newInstance("com.sun.management:type=DiagnosticCommand");
        String out = (String) Class.forName("javax.management.MBeanServerConnection")
                .getMethod("invoke", objectName, String.class, Object[].class, String[].class)
                .invoke(server, name, "vmNativeMemory", new Object[] {new String[] {"summary"}},
                        new String[] {String[].class.getName()});
        Matcher m = NMT_OTHER.matcher(out);
        return m.find() ? Long.parseLong(m.group(2)) : -1;
    }

    /** The key=value arguments of a child process. */
    static Map<String, String> arguments(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (String a : argv) {
            int eq = a.indexOf('=');
            args.put(a.substring(0, eq), a.substring(eq + 1));
        }
        return args;
    }

    static synchronized void say(String line) {
        System.out.println(line.replace('\n', ' '));
        System.out.flush();
    }
}
