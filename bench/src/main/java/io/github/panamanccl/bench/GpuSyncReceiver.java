package io.github.panamanccl.bench;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import io.github.panamanccl.Cuda;
import io.github.panamanccl.DeviceBuffer;
import io.github.panamanccl.bucket.BucketPlan;
import io.github.panamanccl.sync.CommitMode;
import io.github.panamanccl.sync.ConnectionLostException;
import io.github.panamanccl.sync.Transport;
import io.github.panamanccl.sync.UpdateFailedException;
import io.github.panamanccl.sync.WeightReceiver;

/**
 * The receiver JVM of {@link GpuTwoRankSyncBenchmark}: the same scaled inventory on GPU 0 (one cudaMalloc per
 * tensor), joined over {@code Transport.nccl(0)}, committing in place, until the sender goes. Says JOINED on stdout
 * once it joined.
 *
 * <p>Arguments: port, token, inventory, model MiB, bucket MiB.
 */
public final class GpuSyncReceiver {
    private static final Duration JOIN_TIMEOUT = Duration.ofMinutes(2);

    private GpuSyncReceiver() {
    }

    public static void main(String[] args) {
        int port = Integer.parseInt(args[0]);
        Cuda.setDevice(0);
        BucketPlan plan = GpuModel.plan(args[2], Long.parseLong(args[3]) << 20, Long.parseLong(args[4]) << 20);
        List<DeviceBuffer> tensors = new ArrayList<>();
        GpuModel.allocateTensors(plan, tensors);
        try (WeightReceiver receiver = WeightReceiver.builder().sender("127.0.0.1", port).token(args[1])
                .name("bench-receiver").commitMode(CommitMode.IN_PLACE).transport(Transport.nccl(0))
                .scatterIntoDevice(GpuModel.byName(plan, tensors)).join(JOIN_TIMEOUT)) {
            System.out.println("JOINED");
            System.out.flush();
            while (true) {
                try {
                    receiver.awaitUpdate(Duration.ofMinutes(5));
                } catch (UpdateFailedException failed) {
                    System.out.println("FAILED " + failed.getMessage()); // the sender fails the trial
                    System.out.flush();
                }
            }
        } catch (ConnectionLostException senderGone) {
            System.out.println("LOST " + senderGone.getMessage()); // the trial ended
        } finally {
            tensors.forEach(DeviceBuffer::close);
        }
    }
}
