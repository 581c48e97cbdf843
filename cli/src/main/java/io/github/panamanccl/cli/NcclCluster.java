package io.github.panamanccl.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.DeviceMemory;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.bucket.TensorSpec;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.WeightReceiver;
import io.github.panamanccl.sync.WeightSender;

/**
 * {@link DemoCluster} over NCCL: the sender on GPU 0 and receiver {@code r} on GPU {@code r} (NCCL refuses two
 * ranks of one communicator on one GPU), every tensor its own device allocation. Contents are generated on the
 * host and copied up; verification copies each tensor back and compares CRC32C. Each receiver runs on its own
 * thread, bound to its GPU.
 */
final class NcclCluster implements DemoCluster {
    private final List<TensorSpec> tensors;
    private final Duration deadline;
    private final List<DeviceBuffer> senderTensors = new ArrayList<>();
    private final List<List<DeviceBuffer>> receiverTensors = new ArrayList<>();
    private final List<WeightReceiver> receivers = new ArrayList<>();
    private final List<ExecutorService> receiverThreads = new ArrayList<>();
    private final ProgressRelay bucketProgress = new ProgressRelay();
    private final long largestTensor;
    private final PerTensorGroup<Transport.DeviceGroup> perTensorGroup;
    private WeightSender sender;

    private NcclCluster(List<TensorSpec> tensors, int receiverCount, Duration deadline) {
        this.tensors = List.copyOf(tensors);
        this.deadline = deadline;
        this.largestTensor = this.tensors.stream().mapToLong(TensorSpec::byteSize).max().orElse(0);
        // Rank r is GPU r: the sender on GPU 0, receiver r (rank r + 1) on its thread bound to GPU r + 1.
        this.perTensorGroup = new PerTensorGroup<>(Transport.DeviceGroup.class, Transport::nccl,
                this::receiverThread, receiverCount, deadline);
    }

    static NcclCluster start(List<TensorSpec> tensors, long bucketBytes, int receiverCount, Duration deadline) {
        NcclCluster cluster = new NcclCluster(tensors, receiverCount, deadline);
        try {
            Cuda.setDevice(0);
            cluster.senderTensors.addAll(allocate(cluster.tensors));
            for (int r = 1; r <= receiverCount; r++) {
                int device = r;
                ExecutorService thread = Executors.newSingleThreadExecutor(task -> Thread.ofPlatform().daemon()
                        .name("demo-receiver-gpu" + device).unstarted(() -> {
                            Cuda.setDevice(device);
                            task.run();
                        }));
                cluster.receiverThreads.add(thread);
                cluster.receiverTensors.add(ClusterSteps.awaitAll(List.of(thread.submit(() -> allocate(cluster.tensors))),
                        deadline).getFirst());
            }
            String token = ClusterSteps.newToken();
            cluster.sender = WeightSender.builder()
                    .inventory(cluster.tensors, bucketBytes)
                    .deviceSources(byName(cluster.tensors, cluster.senderTensors))
                    .transport(Transport.nccl(0))
                    .receivers(receiverCount)
                    .token(token)
                    .listener(cluster.bucketProgress)
                    .start();
            for (int r = 0; r < receiverCount; r++) {
                cluster.receivers.add(ClusterSteps.receiverOf(cluster.sender, token, "receiver-gpu" + (r + 1))
                        .transport(Transport.nccl(r + 1))
                        .scatterIntoDevice(byName(cluster.tensors, cluster.receiverTensors.get(r)))
                        .join(deadline));
            }
            return cluster;
        } catch (RuntimeException e) {
            cluster.close();
            throw e;
        }
    }

    @Override
    public BucketPlan plan() {
        return sender.plan();
    }

    @Override
    public int[] fillSender(long version) {
        int[] checksums = new int[tensors.size()];
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment image = arena.allocate(Math.max(1, largestTensor), 256);
            for (int t = 0; t < tensors.size(); t++) {
                MemorySegment tensorImage = image.asSlice(0, tensors.get(t).byteSize());
                SyntheticWeights.fill(tensorImage, version, t);
                checksums[t] = SyntheticWeights.checksum(tensorImage);
                senderTensors.get(t).copyFromHost(tensorImage, 0);
            }
        }
        return checksums;
    }

    @Override
    public SyncResult syncBucketed(long version, Progress progress) {
        return ClusterSteps.syncBucketed(sender, receivers, this::receiverThread, bucketProgress, version, progress, deadline);
    }

    @Override
    public SyncResult syncPerTensor(long version, Progress progress) {
        // The sender's rank, on GPU 0: forms the group's root and enqueues the root's broadcasts.
        Cuda.setDevice(0);
        perTensorGroup.formIfAbsent();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        int count = tensors.size();
        List<Future<Void>> received = new ArrayList<>();
        for (int r = 0; r < receivers.size(); r++) {
            Transport.DeviceGroup member = perTensorGroup.member(r);
            List<DeviceBuffer> destination = receiverTensors.get(r);
            received.add(receiverThread(r).submit(() -> {
                broadcastAll(member, destination, version, Progress.NONE);
                member.await(deadlineNanos);
                return null;
            }));
        }
        try {
            long start = System.nanoTime();
            Transport.DeviceGroup root = perTensorGroup.root();
            broadcastAll(root, senderTensors, version, progress);
            root.await(deadlineNanos);
            ClusterSteps.awaitAll(received, deadline);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, plan().totalTensorBytes(), 0, count, seconds);
        } catch (RuntimeException e) {
            perTensorGroup.abort();
            throw e;
        } finally {
            ClusterSteps.cancelAll(received);
        }
    }

    /** One broadcast per non-empty tensor, enqueued on the group's stream. */
    private void broadcastAll(Transport.DeviceGroup group, List<DeviceBuffer> buffers, long version, Progress progress) {
        long total = plan().totalTensorBytes();
        long done = 0;
        for (int t = 0; t < tensors.size(); t++) {
            long bytes = tensors.get(t).byteSize();
            group.broadcast(buffers.get(t).slice(0, bytes), new Transport.BucketTag(version, t, tensors.size()), null, null);
            done += bytes;
            progress.update(done, total);
        }
    }

    @Override
    public Verification verify(int[] expectedChecksums) {
        List<Future<Optional<String>>> checks = new ArrayList<>();
        for (int r = 0; r < receivers.size(); r++) {
            List<DeviceBuffer> destination = receiverTensors.get(r);
            checks.add(receiverThread(r).submit(() -> firstMismatch(destination, expectedChecksums)));
        }
        return ClusterSteps.verification(checks, deadline);
    }

    private Optional<String> firstMismatch(List<DeviceBuffer> destination, int[] expected) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment image = arena.allocate(Math.max(1, largestTensor), 256);
            for (int t = 0; t < tensors.size(); t++) {
                MemorySegment tensorImage = image.asSlice(0, tensors.get(t).byteSize());
                destination.get(t).copyToHost(0, tensorImage);
                if (SyntheticWeights.checksum(tensorImage) != expected[t]) {
                    return Optional.of(tensors.get(t).name());
                }
            }
        }
        return Optional.empty();
    }

    /** Receiver {@code r}'s own thread, bound to its GPU. */
    private ExecutorService receiverThread(int receiver) {
        return receiverThreads.get(receiver);
    }

    private static List<DeviceBuffer> allocate(List<TensorSpec> tensors) {
        List<DeviceBuffer> buffers = new ArrayList<>(tensors.size());
        try {
            for (TensorSpec tensor : tensors) {
                buffers.add(DeviceBuffer.allocate(Math.max(1, tensor.byteSize())));
            }
            return buffers;
        } catch (RuntimeException e) {
            buffers.forEach(DeviceBuffer::close);
            throw e;
        }
    }

    private static Map<String, DeviceMemory> byName(List<TensorSpec> tensors, List<DeviceBuffer> buffers) {
        Map<String, DeviceMemory> byName = LinkedHashMap.newLinkedHashMap(buffers.size());
        for (int t = 0; t < buffers.size(); t++) {
            byName.put(tensors.get(t).name(), buffers.get(t).slice(0, tensors.get(t).byteSize()));
        }
        return byName;
    }

    @Override
    public void close() {
        perTensorGroup.abort();
        receivers.forEach(WeightReceiver::close);
        receivers.clear();
        if (sender != null) {
            sender.close();
            sender = null;
        }
        // Each rank's memory is freed on the thread bound to its GPU.
        for (int r = 0; r < receiverThreads.size() && r < receiverTensors.size(); r++) {
            List<DeviceBuffer> buffers = receiverTensors.get(r);
            receiverThreads.get(r).submit(() -> buffers.forEach(DeviceBuffer::close));
        }
        receiverThreads.forEach(ExecutorService::shutdown);
        for (ExecutorService thread : receiverThreads) {
            try {
                thread.awaitTermination(deadline.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        senderTensors.forEach(DeviceBuffer::close);
        senderTensors.clear();
    }
}
