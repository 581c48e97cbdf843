package io.github.panamanccl.sync;

import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * One thread that owns a selector, every socket registered on it, and an {@link Agent}'s state: the control plane
 * of one side (as Aeron's agents and the JDK HttpClient's SelectorManager do it). Other threads never touch the
 * agent; they {@link #post} commands, which the loop runs at the top of each cycle. Each cycle runs the commands,
 * lets the agent check its deadlines against the clock, then waits for readiness until the next deadline.
 * Framing is non-blocking ({@link FrameReader}) and every connection's outbound queue is bounded.
 *
 * <p>Within a cycle, traffic on established connections is handled before new connections are accepted: a
 * receiver that leaves and comes straight back is seen to leave before it is seen to arrive.
 */
final class ControlLoop implements AutoCloseable {
    /** Frames a connection may have waiting to be written; one more and the peer is dropped as not reading. */
    static final int MAX_QUEUED_FRAMES = 64;
    /** Connections accepted per cycle, so that a flood of arrivals cannot starve established connections. */
    private static final int ACCEPTS_PER_CYCLE = 256;
    /** Bytes read from one connection per cycle (a large plan takes several cycles, others are served between). */
    private static final int READ_BUDGET = 1 << 20;

    /** The control logic the loop drives; every method runs on the loop thread. */
    interface Agent {
        /** A connection was accepted (server) or has connected (client). */
        void onOpened(Link link);

        void onFrame(Link link, Wire.Message message);

        /**
         * The connection ended: the peer closed it ({@link EOFException}), an I/O error, a connect that failed, a
         * peer that let too many frames pile up, or a malformed frame ({@link ProtocolException}; the link can still
         * send a last frame). The loop closes the link after this returns.
         */
        void onLost(Link link, Exception cause);

        /** Checks deadlines; returns the next one (clock nanos), or {@link Long#MAX_VALUE} for none. */
        long onTick(long now);

        /** The loop stops: settle what is in flight, say goodbye, close links. */
        void onStop();
    }

    private final Clock clock;
    private final Agent agent;
    private final Selector selector;
    private final ServerSocketChannel server;
    private final Queue<Runnable> commands = new ConcurrentLinkedQueue<>();
    private final ByteBuffer readBuffer = ByteBuffer.allocate(64 << 10);
    /** Links whose write failed or overflowed inside an agent call; reported once that call returns. */
    private final List<NioLink> broken = new ArrayList<>();
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    private final Thread thread;
    private boolean stopping;

    private ControlLoop(String name, Clock clock, Agent agent, ServerSocketChannel server, InetSocketAddress connectTo)
            throws IOException {
        this.clock = clock;
        this.agent = agent;
        this.server = server;
        this.selector = Selector.open();
        if (server != null) {
            server.configureBlocking(false);
            server.register(selector, SelectionKey.OP_ACCEPT);
        }
        this.thread = Thread.ofPlatform().daemon().name(name).unstarted(() -> run(connectTo));
        thread.start();
    }

    /** A loop serving connections accepted on {@code server} (which it closes when it stops). */
    static ControlLoop server(String name, ServerSocketChannel server, Clock clock, Agent agent) throws IOException {
        return new ControlLoop(name, clock, agent, server, null);
    }

    /** A loop with one connection, to {@code address}; the agent hears {@code onOpened} or {@code onLost}. */
    static ControlLoop client(String name, InetSocketAddress address, Clock clock, Agent agent) throws IOException {
        return new ControlLoop(name, clock, agent, null, address);
    }

    /** Runs {@code command} on the loop thread at the top of the next cycle; dropped once the loop has stopped. */
    void post(Runnable command) {
        commands.add(command);
        selector.wakeup();
    }

    /**
     * Asks the agent on the loop thread (directly when called from it); {@code ifStopped} when the loop has stopped
     * or does not answer within 5 s.
     */
    <T> T call(Supplier<T> query, T ifStopped) {
        if (Thread.currentThread() == thread) {
            return query.get();
        }
        CompletableFuture<T> answer = new CompletableFuture<>();
        post(() -> answer.complete(query.get()));
        long giveUp = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        try {
            while (true) {
                try {
                    return answer.get(20, TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    if (stopped.isDone() || System.nanoTime() - giveUp > 0) {
                        return ifStopped;
                    }
                }
            }
        } catch (ExecutionException e) {
            return ifStopped;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return ifStopped;
        }
    }

    /** Stops the loop after the commands posted so far (the agent's {@code onStop} runs); waits for it briefly. */
    @Override
    public void close() {
        post(() -> stopping = true);
        if (Thread.currentThread() != thread) {
            try {
                stopped.get(5, TimeUnit.SECONDS);
            } catch (ExecutionException | TimeoutException e) {
                // the loop ended by itself, or is stuck in an agent call: its thread is a daemon
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void run(InetSocketAddress connectTo) {
        try {
            if (connectTo != null) {
                connect(connectTo);
            }
            while (true) {
                for (Runnable command; (command = commands.poll()) != null; ) {
                    command.run();
                    reportBroken();
                }
                if (stopping) {
                    break;
                }
                long now = clock.nanoTime();
                long next = agent.onTick(now);
                reportBroken();
                if (!commands.isEmpty()) {
                    continue;
                }
                if (next != Long.MAX_VALUE && next - now <= 0) {
                    selector.selectNow();
                } else {
                    selector.select(next == Long.MAX_VALUE ? 0 : Math.max(1, (next - now + 999_999) / 1_000_000));
                }
                handleSelected();
            }
        } catch (IOException | RuntimeException | Error e) {
            System.getLogger(ControlLoop.class.getName()).log(System.Logger.Level.ERROR,
                    "control loop " + thread.getName() + " failed; its connections are closed", e);
        } finally {
            try {
                agent.onStop();
            } finally {
                for (SelectionKey key : selector.keys()) {
                    Pipelines.closeQuietly(key.channel());
                }
                Pipelines.closeQuietly(selector, server);
                stopped.complete(null);
            }
        }
    }

    private void connect(InetSocketAddress address) throws IOException {
        SocketChannel channel = SocketChannel.open();
        NioLink link = new NioLink(channel, address.toString());
        try {
            channel.configureBlocking(false);
            link.key = channel.register(selector, SelectionKey.OP_CONNECT, link);
            if (channel.connect(address)) {
                link.connected();
            }
        } catch (IOException e) {
            lose(link, e);
        }
    }

    private void handleSelected() {
        boolean accept = false;
        for (Iterator<SelectionKey> it = selector.selectedKeys().iterator(); it.hasNext(); ) {
            SelectionKey key = it.next();
            it.remove();
            if (!key.isValid()) {
                continue;
            }
            if (!(key.attachment() instanceof NioLink link)) {
                accept = true; // after the established connections
                continue;
            }
            try {
                if (key.isConnectable() && link.channel.finishConnect()) {
                    link.connected();
                }
                if (key.isValid() && key.isWritable()) {
                    link.flush();
                }
                if (key.isValid() && key.isReadable()) {
                    link.readFrames();
                }
            } catch (IOException | ProtocolException e) {
                lose(link, e);
            }
            reportBroken();
        }
        if (accept) {
            acceptSome();
        }
    }

    private void acceptSome() {
        for (int i = 0; i < ACCEPTS_PER_CYCLE; i++) {
            SocketChannel channel;
            try {
                channel = server.accept();
            } catch (IOException e) {
                return; // e.g. out of file descriptors: the next cycle tries again
            }
            if (channel == null) {
                return;
            }
            NioLink link = null;
            try {
                link = new NioLink(channel, String.valueOf(channel.getRemoteAddress()));
                channel.configureBlocking(false);
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                link.key = channel.register(selector, SelectionKey.OP_READ, link);
            } catch (IOException e) {
                Pipelines.closeQuietly(channel);
                continue;
            }
            agent.onOpened(link);
            reportBroken();
        }
    }

    private void lose(NioLink link, Exception cause) {
        if (!link.closed) {
            agent.onLost(link, cause);
            link.close();
        }
    }

    private void reportBroken() {
        while (!broken.isEmpty()) {
            NioLink link = broken.removeLast();
            lose(link, link.failure);
        }
    }

    /** A socket seen as a {@link Link}: non-blocking framing in, a bounded queue of frames out. */
    private final class NioLink implements Link {
        private final SocketChannel channel;
        private final String peer;
        private final FrameReader reader = new FrameReader(Integer.MAX_VALUE);
        private final ArrayDeque<ByteBuffer> queued = new ArrayDeque<>();
        private SelectionKey key;
        private long stalledSince = NOTHING_QUEUED;
        private boolean closed;
        private IOException failure;

        NioLink(SocketChannel channel, String peer) {
            this.channel = channel;
            this.peer = peer;
        }

        void connected() throws IOException {
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
            key.interestOps(SelectionKey.OP_READ);
            agent.onOpened(this);
        }

        @Override
        public String peer() {
            return peer;
        }

        @Override
        public void send(Wire.Message message) {
            if (closed || failure != null) {
                return;
            }
            if (queued.size() >= MAX_QUEUED_FRAMES) {
                broke(new IOException("peer " + peer + " does not read: " + queued.size() + " frames are queued"));
                return;
            }
            queued.add(FrameReader.frame(message));
            if (stalledSince == NOTHING_QUEUED) {
                stalledSince = clock.nanoTime();
            }
            try {
                flush();
            } catch (IOException e) {
                broke(e);
            }
        }

        private void broke(IOException e) {
            failure = e;
            broken.add(this);
        }

        void flush() throws IOException {
            boolean progress = false;
            while (!queued.isEmpty()) {
                ByteBuffer head = queued.peek();
                progress |= channel.write(head) > 0;
                if (head.hasRemaining()) {
                    break;
                }
                queued.poll();
            }
            if (queued.isEmpty()) {
                stalledSince = NOTHING_QUEUED;
            } else if (progress) {
                stalledSince = clock.nanoTime();
            }
            if (key.isValid()) {
                key.interestOps(queued.isEmpty() ? SelectionKey.OP_READ : SelectionKey.OP_READ | SelectionKey.OP_WRITE);
            }
        }

        void readFrames() throws IOException {
            for (int budget = READ_BUDGET; budget > 0 && !closed; ) {
                readBuffer.clear();
                int n = channel.read(readBuffer);
                if (n < 0) {
                    throw new EOFException("connection closed by peer " + peer);
                }
                if (n == 0) {
                    return;
                }
                budget -= n;
                readBuffer.flip();
                for (byte[] body; !closed && (body = reader.next(readBuffer)) != null; ) {
                    agent.onFrame(this, Wire.decode(body));
                    reportBroken();
                }
            }
        }

        @Override
        public void maxFrameBytes(int bytes) {
            reader.maxFrameBytes(bytes);
        }

        @Override
        public long stalledSince() {
            return stalledSince;
        }

        @Override
        public void close() {
            if (closed) {
                return;
            }
            closed = true;
            try {
                if (failure == null && channel.isConnected()) {
                    flush();
                    // Unread input would make the close a reset, which can overtake the goodbye just written.
                    for (int reads = 0; reads < 16 && channel.read(readBuffer.clear()) > 0; reads++) {
                        // discarded
                    }
                }
            } catch (IOException | RuntimeException ignored) {
                // a goodbye that does not fit is dropped
            }
            if (key != null) {
                key.cancel();
            }
            Pipelines.closeQuietly(channel);
        }

        @Override
        public String toString() {
            return peer;
        }
    }
}
