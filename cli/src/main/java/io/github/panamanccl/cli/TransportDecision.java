package io.github.panamanccl.cli;

import java.util.Optional;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.LibraryStatus;
import io.github.panamanccl.NativeLibraries;
import io.github.panamanccl.NativeLibrary;

/**
 * The transport the demo runs on and why: NCCL needs libnccl and one GPU per rank (NCCL refuses two ranks of a
 * communicator on one GPU); otherwise the host transport on loopback.
 *
 * @param nccl   true when the demo runs over NCCL
 * @param reason why NCCL is not used (empty when it is)
 */
record TransportDecision(boolean nccl, Optional<String> reason) {

    /** What {@code choice} gives on this machine; {@code nccl} when NCCL cannot run is a failure, not a fallback. */
    static TransportDecision decide(TransportChoice choice, int ranks) {
        if (choice == TransportChoice.HOST) {
            return new TransportDecision(false, Optional.of("--transport host"));
        }
        Optional<String> ncclBlocker = ncclBlocker(ranks);
        if (ncclBlocker.isEmpty()) {
            return new TransportDecision(true, Optional.empty());
        }
        if (choice == TransportChoice.NCCL) {
            throw new IllegalStateException("--transport nccl cannot run here: " + ncclBlocker.get());
        }
        return new TransportDecision(false, ncclBlocker);
    }

    /** Why NCCL cannot carry a sync of {@code ranks} ranks on this machine, if it cannot. */
    static Optional<String> ncclBlocker(int ranks) {
        LibraryStatus nccl = NativeLibraries.status(NativeLibrary.NCCL);
        if (!nccl.available()) {
            return Optional.of(NativeLibrary.NCCL.soname() + " not found (see the info command)");
        }
        Cuda.DeviceProbe devices = Cuda.probeDevices();
        if (devices.cause().isPresent()) {
            return Optional.of("no CUDA device: " + devices.cause().get().getMessage());
        }
        if (devices.count() < ranks) {
            return Optional.of("NCCL needs one GPU per rank: " + ranks + " ranks, " + devices.count() + " GPU(s)");
        }
        return Optional.empty();
    }
}
