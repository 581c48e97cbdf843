package io.github.panamanccl.cli;

/** Which transport the demo uses: {@code auto} picks NCCL when it can run, otherwise the host transport. */
enum TransportChoice {
    AUTO, NCCL, HOST
}
