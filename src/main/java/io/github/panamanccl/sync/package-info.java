/**
 * Versioned weight synchronisation: a {@link io.github.panamanccl.sync.WeightSender} (trainer) publishes version
 * after version of a bucket plan to {@link io.github.panamanccl.sync.WeightReceiver}s (engines), one collective
 * per bucket, no per-tensor native call.
 *
 * <h2>Threads</h2>
 * Each side has one control thread that owns every control connection through one selector, the membership and
 * the current update's state machine; deadlines, heartbeats and the silence rule are checked by it against a clock,
 * with no timer threads. The sender's caller of {@code publish} runs the data plane (the CUDA device is per thread)
 * and a packer thread prepares the next bucket (host: its checksum; device: its packing); a receiver's application
 * thread runs each update inside {@code awaitUpdate} (with an apply thread when it takes host buckets in place). A sender runs two threads of its
 * own whatever the number of receivers.
 *
 * <h2>Control plane</h2>
 * JDK sockets only. The sender listens (default 127.0.0.1); a receiver joins with the shared token (compared as
 * SHA-256 digests in constant time) and, optionally, the plan fingerprint it expects. Frames are
 * {@code u32 length, body}; before authentication at most 8 KiB, afterwards at most {@code maxFrameBytes}
 * (default 64 MiB); a longer announcement is refused before anything is buffered, and a body's buffer grows with the
 * bytes that arrived, never to the announced length up front. A receiver allows {@code maxFrameBytes} only for the
 * WELCOME, which carries the plan; every other message fits in 8 KiB. A new connection has the
 * handshake deadline (default 2 s) to send its join request; at most 256 connections may be handshaking, and a
 * newcomer beyond that turns the oldest away with a typed {@link io.github.panamanccl.sync.FailureReason#BUSY}, so
 * silent connections cannot lock receivers out. A receiver is sent the plan (WELCOME, in the bucket package's binary
 * codec), checks it against its own tensors (names and sizes; with {@code expectInventory}, also dtypes, shapes and
 * order, or the inventory fingerprint) and a budget for its buffers, and takes its place (ACCEPT) or declines it
 * with its reason (REJECT), which frees the place at once and which the sender reports. A peer not heard from, or
 * not reading, for the I/O timeout is lost; heartbeats every third of it keep an idle connection alive. Update messages: FORM_GROUP (only
 * when the group changes: version, epoch, rank, world size, the transport rendezvous, e.g. the NCCL unique id),
 * GROUP_READY; BEGIN (version, plan fingerprint, deadline), READY; DONE; FAILED from a receiver, ABORT (reason, rank
 * at fault) from the sender. A version is announced once: {@code publish} refuses a version it was given before,
 * failed attempts included, so one version never names two weight sets. A receiver whose plan fingerprint differs
 * refuses the update before any byte moves. The token travels in clear: use loopback or a trusted network.
 *
 * <h2>Data plane</h2>
 * {@link io.github.panamanccl.sync.Transport}: {@code hostTcp()} (host memory; a receiver presents the group's
 * secret on the data port and the root acknowledges it; a 32-byte header per bucket with version, index, count,
 * length and CRC32C, all checked by the receiver) or {@code nccl(device)} (device memory; one {@code ncclBroadcast}
 * per bucket on a non-blocking communicator; no checksum, NCCL's transport is relied on).
 *
 * <h2>Pipeline and memory</h2>
 * Host sender: no bucket buffer; each bucket is written with gathering writes straight from the source tensors
 * (padding from a shared zero region, tensors under 2 KiB through a small staging buffer), its CRC32C computed
 * one bucket ahead on the packer thread. Device sender: two bucket buffers; bucket k+1 is packed on a copy stream
 * (one {@code cudaMemcpyBatchAsync}, padding zeroed in the same batch) while bucket k is broadcast, events ordering
 * pack before broadcast and broadcast before the next pack into the same buffer. Receiver,
 * {@link io.github.panamanccl.sync.CommitMode#IN_PLACE}: over the host transport, one that scatters into tensors
 * reads every bucket straight into them with scattering reads, checksummed as it lands; otherwise two bucket
 * buffers, bucket k applied while k+1 arrives, a buffer refilled only after its bucket was applied. A failure once
 * bytes of the update reached the tensors (a corrupt bucket included) leaves the receiver
 * {@link io.github.panamanccl.sync.ReceiverState.Torn}. {@link io.github.panamanccl.sync.CommitMode#STAGED}: one
 * staging area of the plan's total bucket bytes, applied only after every bucket arrived and validated, so a failed
 * transfer leaves the old weights intact; the price is a full-size staging copy and no transfer/apply overlap.
 * Delivered mode ({@link io.github.panamanccl.sync.BucketConsumer}) hands validated host buckets to the application
 * instead of scattering.
 *
 * <h2>Zero-copy</h2>
 * When the weights live in plan-layout storage ({@link io.github.panamanccl.bucket.PlanStorage}), a bucket is a
 * range of the weights: the sender ({@code sources(PlanStorage)}) broadcasts each bucket straight from them and a
 * receiver lands it straight in them, with no packer, no bucket buffers and no scatter. Over NCCL every bucket's
 * broadcast is enqueued back to back on the group's stream and waited for once (progress is timed on the device
 * afterwards). In place ({@code receiveInto(storage)}) the update writes the live weights and a failure tears them;
 * staged ({@code receiveInto(a, b)}) it lands in whichever of two storages nobody reads and the commit, published
 * only after the update settled as a success, flips which one {@link io.github.panamanccl.sync.StagedWeights} leases
 * out; before READY the receiver waits for the leases of the storage it will overwrite to close (GPU readers' events
 * on its stream), at most half the update's time. {@code allocateStorage()} allocates the storage from the plan the
 * receiver joins with.
 *
 * <h2>Deadlines and failure</h2>
 * Every update has a deadline, and the sender alone decides that it is late: it announces the time left rounded up,
 * and a receiver adds a grace of one second, failing on its own only when the sender has gone silent that long past
 * the deadline. The first failure of an update (its deadline, a receiver's FAILED, a lost connection, a transport
 * error) wins and aborts the transport group, or the group being formed, from the thread that saw it (for NCCL an
 * {@code ncclCommAbort} that ends the rank's own wait at once); the sender's ABORT then reaches every receiver of the
 * update, even one whose application has not started it yet, and each aborts its own group. Two exceptions to
 * "first": NCCL reports a lost or aborted peer without saying which (ncclRemoteError), usually a few ms before the
 * control plane's word that names the rank (its FAILED, or its lost connection), so such a failure waits up to
 * 500 ms, never past the deadline, for that word; and a rank's own local failure (e.g. its stream's CUDA error) is
 * what it reports, and tells the sender, even when the sender's ABORT came first, for over NCCL that ABORT is
 * usually the echo of aborting its communicator. Every rank throws one
 * {@link io.github.panamanccl.sync.UpdateFailedException}: its
 * {@link io.github.panamanccl.sync.FailureReason} (the same on every rank; it travels as the wire code), the
 * {@link io.github.panamanccl.sync.UpdatePhase} it failed in, the rank at fault, a message naming who failed and
 * what to do, and on a receiver its state. A receiver that cannot join the transport group reports it, and throws the
 * update's failure with its own error as the cause. The next {@code publish} forms a new group with whichever
 * receivers are connected then. Besides, a join can be refused ({@link io.github.panamanccl.sync.JoinRejectedException}),
 * a connection lost ({@link io.github.panamanccl.sync.ConnectionLostException}), a peer can break the protocol
 * ({@link io.github.panamanccl.sync.ProtocolException}, {@link io.github.panamanccl.sync.FrameTooLargeException}), and
 * torn weights refuse to be served ({@link io.github.panamanccl.sync.TornWeightsException}); all are
 * {@link io.github.panamanccl.sync.SyncException}s.
 */
package io.github.panamanccl.sync;
