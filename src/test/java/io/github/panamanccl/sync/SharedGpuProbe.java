package io.github.panamanccl.sync;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.NcclCommunicator;
import io.github.panamanccl.NcclException;
import io.github.panamanccl.NcclUniqueId;
import io.github.panamanccl.testing.FakeNative;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * For {@link FakeNcclSharedGpuTest}, in a JVM whose environment the test chooses: forms communicators whose ranks are
 * all on fake GPU 0, one per argument {@code RANKS@VERSION} (the version code the fake NCCL plays), and says FORMED or
 * REFUSED (with NCCL's message) for each.
 */
public final class SharedGpuProbe {
    private static final Duration DEADLINE = Duration.ofSeconds(20);

    private SharedGpuProbe() {
    }

    public static void main(String[] scenarios) {
        Cuda.setDevice(0); // loads the fake CUDA runtime, whose device the fake NCCL reads for each rank
        for (String scenario : scenarios) {
            int ranks = Integer.parseInt(scenario.substring(0, scenario.indexOf('@')));
            int version = Integer.parseInt(scenario.substring(scenario.indexOf('@') + 1));
            FakeNative.ncclSetVersion(version);
            NcclUniqueId id = NcclUniqueId.generate();
            List<NcclCommunicator> communicators = new ArrayList<>();
            try {
                for (int rank = 0; rank < ranks; rank++) {
                    communicators.add(NcclCommunicator.begin(id, ranks, rank));
                }
                for (NcclCommunicator communicator : communicators) {
                    communicator.awaitReady(DEADLINE);
                }
                ReceiverProcess.say("FORMED scenario=" + scenario);
            } catch (NcclException refused) {
                ReceiverProcess.say("REFUSED scenario=" + scenario + " message=" + refused.getMessage());
            } finally {
                communicators.forEach(NcclCommunicator::close);
            }
        }
    }
}
