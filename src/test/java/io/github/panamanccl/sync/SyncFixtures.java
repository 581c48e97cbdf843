package io.github.panamanccl.sync;

import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.BucketPlanner;
import io.github.panamanccl.bucket.DType;
import io.github.panamanccl.bucket.TensorSpec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** A mixed-dtype inventory and a deterministic per-version byte pattern, shared by sender and receiver processes. */
final class SyncFixtures {
    static final String TOKEN = "test-token-\u00e9";
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG_UNALIGNED;

    private SyncFixtures() {
    }

    /**
     * Every dtype, odd shapes, a scalar, an empty tensor, and (with a 1 MiB cap) tensors split across buckets.
     * {@code scale} multiplies the large tensors' rows.
     */
    static List<TensorSpec> inventory(int scale) {
        return List.of(
                new TensorSpec("model.embed_tokens.weight", DType.BFLOAT16, 500L * scale, 512),
                new TensorSpec("model.layers.0.self_attn.qkv.weight", DType.FLOAT32, 384L * scale, 1536),
                new TensorSpec("model.layers.0.self_attn.qkv.bias", DType.FLOAT32, 1536),
                new TensorSpec("model.layers.0.input_layernorm.weight", DType.FLOAT16, 513),
                new TensorSpec("model.layers.0.mlp.experts.gate_up.weight", DType.FLOAT8_E4M3FN, 64, 333),
                new TensorSpec("model.layers.0.mlp.experts.down.weight", DType.FLOAT8_E5M2, 33, 64),
                new TensorSpec("model.layers.0.step", DType.INT64),
                new TensorSpec("model.layers.0.mask", DType.BOOL, 7, 13),
                new TensorSpec("model.layers.0.ids", DType.INT32, 1001),
                new TensorSpec("model.layers.0.offsets", DType.UINT8, 17),
                new TensorSpec("model.layers.0.bins", DType.INT8, 3, 5),
                new TensorSpec("model.layers.0.hist", DType.INT16, 9),
                new TensorSpec("model.layers.0.scales", DType.FLOAT64, 3),
                new TensorSpec("model.layers.0.unused", DType.FLOAT32, 0, 4),
                new TensorSpec("lm_head.weight", DType.BFLOAT16, 250L * scale, 1024));
    }

    static final long CAP = 1L << 20;

    static BucketPlan plan(int scale) {
        return BucketPlanner.plan(inventory(scale), CAP);
    }

    /** One native segment per tensor, by name, in plan order. */
    static Map<String, MemorySegment> allocate(BucketPlan plan, Arena arena) {
        Map<String, MemorySegment> byName = new LinkedHashMap<>();
        for (TensorSpec t : plan.tensors()) {
            byName.put(t.name(), arena.allocate(Math.max(1, t.byteSize()), 8).asSlice(0, t.byteSize()));
        }
        return byName;
    }

    /** Fills every tensor with the pattern of {@code version}. */
    static void fill(BucketPlan plan, Map<String, MemorySegment> tensors, long version) {
        for (int t = 0; t < plan.tensorCount(); t++) {
            MemorySegment s = tensors.get(plan.tensor(t).name());
            long words = s.byteSize() / 8;
            for (long i = 0; i < words; i++) {
                s.set(WORD, i * 8, word(version, t, i));
            }
            for (long b = words * 8; b < s.byteSize(); b++) {
                s.set(ValueLayout.JAVA_BYTE, b, (byte) word(version, t, b / 8 + 1_000_003));
            }
        }
    }

    /** The first tensor not holding the pattern of {@code version}, as "name@offset", or null when all match. */
    static String firstMismatch(BucketPlan plan, Map<String, MemorySegment> tensors, long version) {
        for (int t = 0; t < plan.tensorCount(); t++) {
            long at = firstMismatch(t, tensors.get(plan.tensor(t).name()), version);
            if (at >= 0) {
                return plan.tensor(t).name() + "@" + at;
            }
        }
        return null;
    }

    /** Whether {@code s}, tensor {@code tensor} of {@code plan}, holds the pattern of {@code version}. */
    static boolean holds(BucketPlan plan, int tensor, MemorySegment s, long version) {
        return s.byteSize() == plan.tensor(tensor).byteSize() && firstMismatch(tensor, s, version) < 0;
    }

    private static long firstMismatch(int t, MemorySegment s, long version) {
        long words = s.byteSize() / 8;
        for (long i = 0; i < words; i++) {
            if (s.get(WORD, i * 8) != word(version, t, i)) {
                return i * 8;
            }
        }
        for (long b = words * 8; b < s.byteSize(); b++) {
            if (s.get(ValueLayout.JAVA_BYTE, b) != (byte) word(version, t, b / 8 + 1_000_003)) {
                return b;
            }
        }
        return -1;
    }

    /** CRC32C over all tensors in plan order. */
    static long digest(BucketPlan plan, Map<String, MemorySegment> tensors) {
        CRC32C crc = new CRC32C();
        for (TensorSpec t : plan.tensors()) {
            MemorySegment s = tensors.get(t.name());
            if (s.byteSize() > 0) {
                crc.update(s.asByteBuffer());
            }
        }
        return crc.getValue();
    }

    /**
     * Fills {@code sources} with the pattern of {@code version}, publishes it on loopback to one receiver that scatters
     * into {@code destinations}, and returns the first destination tensor that differs (null when none does).
     */
    static String syncOnce(BucketPlan plan, Map<String, MemorySegment> sources, Map<String, MemorySegment> destinations,
                           long version) throws Exception {
        fill(plan, sources, version);
        try (WeightSender sender = WeightSender.builder().plan(plan).hostSources(sources).receivers(1).token(TOKEN)
                .start();
             WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", sender.port()).token(TOKEN)
                     .scatterInto(destinations).join(Duration.ofSeconds(10))) {
            CompletableFuture<Optional<UpdateReport>> update = CompletableFuture.supplyAsync(
                    () -> receiver.awaitUpdate(Duration.ofSeconds(20)));
            assertEquals(version, sender.publish(version, Duration.ofSeconds(20)).version());
            assertEquals(version, update.get(30, TimeUnit.SECONDS).orElseThrow().version());
        }
        return firstMismatch(plan, destinations, version);
    }

    /** A listener that records every refused join as "REASON: message". */
    static SyncListener recordingRejections(List<String> into) {
        return new SyncListener() {
            @Override
            public void onJoinRejected(String peer, FailureReason reason, String message) {
                into.add(reason + ": " + message);
            }
        };
    }

    /** The update failure {@code action} throws, checked to be for {@code reason}. */
    static UpdateFailedException assertFails(FailureReason reason, Executable action) {
        return assertFailure(reason, assertThrows(UpdateFailedException.class, action));
    }

    /** {@code thrown} as an update failure, checked to be for {@code reason}. */
    static UpdateFailedException assertFailure(FailureReason reason, Throwable thrown) {
        UpdateFailedException e = assertInstanceOf(UpdateFailedException.class, thrown, String.valueOf(thrown));
        assertEquals(reason, e.reason(), e.toString());
        return e;
    }

    private static long word(long version, int tensor, long index) {
        long z = version * 0x9E3779B97F4A7C15L + tensor * 0xBF58476D1CE4E5B9L + index * 0x94D049BB133111EBL;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
