package io.github.panamanccl.sync;

import java.time.Duration;
import java.util.Objects;

/**
 * The settings {@link WeightSender.Builder} and {@link WeightReceiver.Builder} share, with their defaults and checks
 * in one place. Immutable; each builder keeps the current one.
 *
 * @param token         the shared secret's UTF-8 bytes; null until set
 * @param ioTimeout     the silence rule: a peer not heard from (or not reading) this long is lost; heartbeats go
 *                      out every third of it
 * @param maxFrameBytes largest control frame accepted from an authenticated peer
 */
record SyncOptions(byte[] token, Transport transport, SyncListener listener, Duration ioTimeout, int maxFrameBytes) {
    static final SyncOptions DEFAULTS = new SyncOptions(null, Transport.hostTcp(), new SyncListener() { },
            Duration.ofSeconds(10), 64 << 20);

    SyncOptions withToken(String value) {
        return new SyncOptions(Tokens.bytes(value), transport, listener, ioTimeout, maxFrameBytes);
    }

    SyncOptions withTransport(Transport value) {
        return new SyncOptions(token, Objects.requireNonNull(value, "transport"), listener, ioTimeout, maxFrameBytes);
    }

    SyncOptions withListener(SyncListener value) {
        return new SyncOptions(token, transport, Objects.requireNonNull(value, "listener"), ioTimeout, maxFrameBytes);
    }

    SyncOptions withIoTimeout(Duration value) {
        return new SyncOptions(token, transport, listener, Arguments.positive("ioTimeout", value), maxFrameBytes);
    }

    SyncOptions withMaxFrameBytes(int value, int minimum) {
        return new SyncOptions(token, transport, listener, ioTimeout, Arguments.atLeast("maxFrameBytes", value, minimum));
    }

    /** @throws IllegalStateException when no token was set */
    byte[] requireToken() {
        if (token == null) {
            throw new IllegalStateException("token(...) is required");
        }
        return token;
    }
}
