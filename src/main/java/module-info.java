/**
 * panama-nccl: NCCL and the CUDA runtime through Panama FFM, and packed weight broadcast on top.
 * The generated bindings (io.github.panamanccl.internal.*) are not exported.
 */
module io.github.panamanccl {
    requires com.fasterxml.jackson.core;

    exports io.github.panamanccl;
    exports io.github.panamanccl.bucket;
    exports io.github.panamanccl.sync;
}
