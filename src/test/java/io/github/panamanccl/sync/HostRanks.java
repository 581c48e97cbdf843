package io.github.panamanccl.sync;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A formed host-tcp group of every rank in this process: {@code rank(r)} is rank r's side. The receivers may reach the
 * root through a {@link DataRelay}.
 */
record HostRanks(List<HostSpanGroup> groups) implements AutoCloseable {
    static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    static HostRanks form(int worldSize) throws Exception {
        return form(worldSize, null);
    }

    /** Forms the group; with a relay, every receiver's data connection goes through it. */
    static HostRanks form(int worldSize, DataRelay relay) throws Exception {
        HostTcpTransport t = HostTcpTransport.INSTANCE;
        try (ExecutorService connecting = Executors.newFixedThreadPool(worldSize - 1);
             GroupTransport.RootFormation<HostSpanGroup> rv = t.openRendezvous(LOOPBACK, worldSize)) {
            byte[] bytes = relay == null ? rv.bytes() : relay.rendezvous(rv.bytes());
            List<Future<HostSpanGroup>> members = new ArrayList<>();
            for (int r = 1; r < worldSize; r++) {
                int rank = r;
                members.add(connecting.submit(() -> {
                    try (GroupTransport.Formation<HostSpanGroup> joining = t.join(bytes, LOOPBACK, rank, worldSize)) {
                        return joining.awaitGroup(deadline(5000));
                    }
                }));
            }
            List<HostSpanGroup> groups = new ArrayList<>();
            groups.add(rv.awaitGroup(deadline(5000)));
            for (Future<HostSpanGroup> member : members) {
                groups.add(member.get());
            }
            return new HostRanks(groups);
        }
    }

    static long deadline(long millis) {
        return System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    }

    HostSpanGroup rank(int rank) {
        return groups.get(rank);
    }

    @Override
    public void close() {
        groups.forEach(Transport.Group::close);
    }
}
