package io.github.panamanccl.sync;

import java.net.InetAddress;

/**
 * A {@link Transport} with the type of group it forms: how the sender and receiver reach a typed group, and feed it
 * to a pipeline of the same type, without a cast. Each of the sealed transports implements it for its group type.
 *
 * @param <G> {@link Transport.HostGroup} or {@link Transport.DeviceGroup}
 */
interface GroupTransport<G extends Transport.Group> {
    String name();

    /** Root side: prepares a group of {@code worldSize} ranks, reachable at {@code bindAddress}. */
    RootFormation<G> openRendezvous(InetAddress bindAddress, int worldSize);

    /** Receiver side: starts joining the group described by {@code rendezvous}. */
    Formation<G> join(byte[] rendezvous, InetAddress senderAddress, int rank, int worldSize);

    /** One rank's part of a group being formed. */
    interface Formation<G extends Transport.Group> extends Transport.PendingGroup {
        @Override
        G awaitGroup(long deadlineNanos);
    }

    /** The root's part of a group being formed. */
    interface RootFormation<G extends Transport.Group> extends Formation<G>, Transport.Rendezvous {
        @Override
        G awaitGroup(long deadlineNanos);
    }
}
