package io.github.panamanccl.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
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
import io.github.panamanccl.sync.CommitMode;
import io.github.panamanccl.sync.SyncException;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.UpdateReport;
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
    private WeightSender sender;
    private Transport.DeviceGroup perTensorRoot;
    private final List<Transport.DeviceGroup> perTensorMembers = new ArrayList<>();

    private NcclCluster(List<TensorSpec> tensors, Duration deadline) {
        this.tensors = List.copyOf(tensors);
        this.deadline = deadline;
        this.largestTensor = this.tensors.stream().mapToLong(TensorSpec::byteSize).max().orElse(0);
    }

    static NcclCluster start(List<TensorSpec> tensors, long bucketBytes, int receiverCount, Duration deadline) {
        NcclCluster cluster = new NcclCluster(tensors, deadline);
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
                cluster.receiverTensors.add(DemoCluster.awaitAll(List.of(thread.submit(() -> allocate(cluster.tensors))),
                        deadline).getFirst());
            }
            String token = HexFormat.of().formatHex(new SecureRandom().generateSeed(16));
            cluster.sender = WeightSender.builder()
                    .inventory(cluster.tensors, bucketBytes)
                    .deviceSources(byName(cluster.tensors, cluster.senderTensors))
                    .transport(Transport.nccl(0))
                    .receivers(receiverCount)
                    .token(token)
                    .listener(cluster.bucketProgress)
                    .start();
            for (int r = 0; r < receiverCount; r++) {
                cluster.receivers.add(WeightReceiver.builder()
                        .sender(InetAddress.getLoopbackAddress().getHostAddress(), cluster.sender.port())
                        .token(token)
                        .name("receiver-gpu" + (r + 1))
                        .expectPlan(cluster.sender.plan().fingerprint())
                        .commitMode(CommitMode.IN_PLACE)
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
        List<Future<UpdateReport>> received = new ArrayList<>();
        for (int r = 0; r < receivers.size(); r++) {
            WeightReceiver receiver = receivers.get(r);
            received.add(receiverThreads.get(r).submit(() -> receiver.awaitUpdate(deadline)
                    .orElseThrow(() -> new SyncException("no update began within " + deadline))));
        }
        bucketProgress.start(progress, plan().totalBucketBytes());
        try {
            long start = System.nanoTime();
            UpdateReport report = sender.publish(version, deadline);
            DemoCluster.awaitAll(received, deadline);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, report.bytes(), report.buckets(), report.collectiveCalls(), seconds);
        } finally {
            bucketProgress.stop();
            DemoCluster.cancelAll(received);
        }
    }

    @Override
    public SyncResult syncPerTensor(long version, Progress progress) {
        formPerTensorGroup();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        int count = tensors.size();
        List<Future<Void>> received = new ArrayList<>();
        for (int r = 0; r < perTensorMembers.size(); r++) {
            Transport.DeviceGroup member = perTensorMembers.get(r);
            List<DeviceBuffer> destination = receiverTensors.get(r);
            received.add(receiverThreads.get(r).submit(() -> {
                broadcastAll(member, destination, version, Progress.NONE);
                member.await(deadlineNanos);
                return null;
            }));
        }
        try {
            Cuda.setDevice(0);
            long start = System.nanoTime();
            broadcastAll(perTensorRoot, senderTensors, version, progress);
            perTensorRoot.await(deadlineNanos);
            DemoCluster.awaitAll(received, deadline);
            double seconds = (System.nanoTime() - start) / 1e9;
            return new SyncResult(version, plan().totalTensorBytes(), 0, count, seconds);
        } catch (RuntimeException e) {
            abortPerTensorGroup();
            throw e;
        } finally {
            DemoCluster.cancelAll(received);
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
            checks.add(receiverThreads.get(r).submit(() -> firstMismatch(destination, expectedChecksums)));
        }
        int verified = 0;
        Optional<String> firstMismatch = Optional.empty();
        for (Optional<String> mismatch : DemoCluster.awaitAll(checks, deadline)) {
            if (mismatch.isEmpty()) {
                verified++;
            } else if (firstMismatch.isEmpty()) {
                firstMismatch = mismatch;
            }
        }
        return new Verification(verified, receivers.size(), firstMismatch);
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

    private void formPerTensorGroup() {
        if (perTensorRoot != null) {
            return;
        }
        int worldSize = receivers.size() + 1;
        InetAddress loopback = InetAddress.getLoopbackAddress();
        long deadlineNanos = System.nanoTime() + deadline.toNanos();
        Cuda.setDevice(0);
        try (Transport.Rendezvous rendezvous = Transport.nccl(0).openRendezvous(loopback, worldSize)) {
            byte[] bytes = rendezvous.bytes();
            List<Future<Transport.Group>> joined = new ArrayList<>();
            for (int rank = 1; rank < worldSize; rank++) {
                int memberRank = rank;
                joined.add(receiverThreads.get(rank - 1).submit(() ->
                        DemoCluster.joinGroup(Transport.nccl(memberRank), bytes, loopback, memberRank, worldSize, deadlineNanos)));
            }
            perTensorRoot = (Transport.DeviceGroup) rendezvous.awaitGroup(deadlineNanos);
            for (Transport.Group member : DemoCluster.awaitAll(joined, deadline)) {
                perTensorMembers.add((Transport.DeviceGroup) member);
            }
        } catch (RuntimeException e) {
            abortPerTensorGroup();
            throw e;
        }
    }

    private void abortPerTensorGroup() {
        if (perTensorRoot != null) {
            perTensorRoot.abort();
            perTensorRoot.close();
        }
        perTensorMembers.forEach(member -> {
            member.abort();
            member.close();
        });
        perTensorRoot = null;
        perTensorMembers.clear();
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
        abortPerTensorGroup();
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
