/**
 * Versioned weight synchronisation: a {@link io.github.panamanccl.sync.WeightSender} (trainer) publishes version
 * after version of a bucket plan to {@link io.github.panamanccl.sync.WeightReceiver}s (engines), one collective
 * per bucket, no per-tensor native call.
 *
 * <h2>Control plane</h2>
 * JDK sockets only. The sender listens (default 127.0.0.1); a receiver joins with the shared token (compared as
 * SHA-256 digests in constant time) and, optionally, the plan fingerprint it expects. Frames are
 * {@code u32 length, body}; before authentication at most 8 KiB, afterwards at most {@code maxFrameBytes}
 * (default 64 MiB); a longer announcement is refused before anything is buffered. Every read and write has the
 * I/O timeout; heartbeats every third of it keep an idle connection's reads inside it. Messages: HELLO, WELCOME
 * (transport name, plan fingerprint, the plan in the bucket package's binary codec), GROUP (epoch, rank, world
 * size, transport rendezvous, e.g. the NCCL unique id), GROUP_READY / GROUP_FAILED per rank, BEGIN (version, plan fingerprint, deadline), READY,
 * DONE / FAILED per rank, ABORT (reason, rank at fault). A receiver whose plan fingerprint differs refuses the
 * update before any byte moves, and both sides report {@link io.github.panamanccl.sync.PlanMismatchException}.
 * The token travels in clear: use loopback or a trusted network.
 *
 * <h2>Data plane</h2>
 * {@link io.github.panamanccl.sync.Transport}: {@code hostTcp()} (host memory; a 32-byte header per bucket with
 * version, index, count, length and CRC32C, all checked by the receiver) or {@code nccl(device)} (device memory;
 * one {@code ncclBroadcast} per bucket on a non-blocking communicator; no checksum, NCCL's transport is relied on).
 *
 * <h2>Pipeline and memory</h2>
 * Sender: two bucket buffers; bucket k+1 is packed (host: packer thread; device: copy stream, one
 * {@code cudaMemcpyBatchAsync}, padding zeroed in the same batch) while bucket k is broadcast; events (device) or futures (host) order pack before
 * broadcast and broadcast before the next pack into the same buffer. Receiver, {@link
 * io.github.panamanccl.sync.CommitMode#IN_PLACE}: two bucket buffers, bucket k applied while k+1 arrives, a buffer
 * refilled only after its bucket was applied; a failure after the first applied bucket leaves the receiver
 * {@link io.github.panamanccl.sync.ReceiverState.Torn}. {@link io.github.panamanccl.sync.CommitMode#STAGED}: one
 * staging area of the plan's total bucket bytes, applied only after every bucket arrived and validated, so a
 * failed transfer leaves the old weights intact; the price is a full-size staging copy and no transfer/apply
 * overlap. Staging per bucket and copying once at the end is the cheapest atomic scheme when destinations are the
 * application's own tensors (a swap would need the application to read from our memory). Delivered mode
 * ({@link io.github.panamanccl.sync.BucketConsumer}) hands validated host buckets to the application instead of
 * scattering.
 *
 * <h2>Deadlines and failure</h2>
 * Every update has a deadline. The first failure (deadline watchdog, a receiver's FAILED, a lost control
 * connection, a transport error) aborts the transport group from the thread that saw it (for NCCL an
 * {@code ncclCommAbort} that ends the rank's own wait at once); the sender then sends ABORT naming the rank at
 * fault, and each surviving receiver aborts its group on receipt, so every rank throws a typed
 * {@link io.github.panamanccl.sync.UpdateFailedException} promptly, at the latest at the deadline plus a small
 * slack (a receiver waits at most 500 ms for the ABORT to learn the root cause). The sender alone decides that an
 * update is late: it announces the time left rounded up, and a receiver adds a grace of one second, failing on its
 * own only when the sender has gone silent that long past the deadline. The same holds while the group
 * forms: the group being formed is aborted from the thread that saw the failure (for NCCL an
 * {@code ncclCommAbort} of the communicator still forming, which ends that rank's
 * {@link io.github.panamanccl.NcclCommunicator#awaitReady} at once); a receiver whose own formation fails reports
 * GROUP_FAILED, which fails the update on arrival, and throws that update's failure itself (its own error as the
 * cause) once the sender's ABORT names it; and the sender's ABORT reaches every receiver of the group being formed,
 * even one that has not begun to form it yet, and every receiver of an announced update (BEGIN), even one whose
 * application has not called awaitUpdate yet. The next {@code publish} forms a new group with whichever receivers
 * are connected then.
 */
package io.github.panamanccl.sync;
