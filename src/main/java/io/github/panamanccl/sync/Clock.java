package io.github.panamanccl.sync;

/**
 * The control plane's time source: every handshake, heartbeat, silence and update deadline is a plain comparison
 * against it. Production uses {@link System#nanoTime()}, so the deadlines it yields also bound the data plane;
 * tests advance a fake one.
 */
@FunctionalInterface
interface Clock {
    Clock SYSTEM = System::nanoTime;

    long nanoTime();
}
