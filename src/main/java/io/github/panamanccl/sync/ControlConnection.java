package io.github.panamanccl.sync;

import io.github.panamanccl.sync.Wire.Message;
import io.github.panamanccl.sync.Wire.Ping;
import io.github.panamanccl.sync.Wire.Reason;
import io.github.panamanccl.sync.Wire.Reject;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One control-plane connection: length-prefixed frames ({@code u32 length, body}) of at most
 * {@link #maxFrameBytes()}, every read and write bounded by the I/O timeout. After {@link #start} a reader
 * thread decodes frames into an inbox and heartbeats keep an idle connection's reads inside that timeout, so a
 * silent peer is detected, not waited for.
 */
final class ControlConnection implements AutoCloseable {
    /** Reacts to inbound traffic on the reader thread, before the message reaches the inbox. */
    interface Handler {
        void onMessage(ControlConnection connection, Message message);

        void onLost(ControlConnection connection, Throwable cause);
    }

    private static final Object LOST = new Object();

    private final DeadlineChannel channel;
    private final String peer;
    private final long ioTimeoutNanos;
    private final ReentrantLock writeLock = new ReentrantLock();
    private final BlockingQueue<Object> inbox = new LinkedBlockingQueue<>();
    private volatile int maxFrameBytes;
    private volatile Throwable lostCause;
    private volatile ScheduledFuture<?> heartbeat;

    ControlConnection(DeadlineChannel channel, Duration ioTimeout, int maxFrameBytes) {
        this.channel = channel;
        this.peer = channel.peer();
        this.ioTimeoutNanos = ioTimeout.toNanos();
        this.maxFrameBytes = maxFrameBytes;
    }

    int maxFrameBytes() {
        return maxFrameBytes;
    }

    /** The handshake uses a small limit; an authenticated peer may send up to the configured maximum. */
    void maxFrameBytes(int bytes) {
        this.maxFrameBytes = bytes;
    }

    String peer() {
        return peer;
    }

    /** Sends one frame within the I/O timeout; concurrent senders are serialised. */
    void send(Message message) throws IOException {
        send(message, System.nanoTime() + ioTimeoutNanos);
    }

    /** Sends one frame by an earlier deadline than the I/O timeout (failure notices must not outlast an update). */
    void send(Message message, long deadlineNanos) throws IOException {
        byte[] body = Wire.encode(message);
        ByteBuffer header = ByteBuffer.allocate(4).putInt(0, body.length);
        writeLock.lock();
        try {
            long ioDeadline = System.nanoTime() + ioTimeoutNanos;
            long deadline = deadlineNanos - ioDeadline < 0 ? deadlineNanos : ioDeadline;
            channel.writeFully(new ByteBuffer[] {header, ByteBuffer.wrap(body)}, deadline);
        } catch (IOException e) {
            close();
            throw e;
        } finally {
            writeLock.unlock();
        }
    }

    /** Best effort within at most one second, for error reports that must not delay the caller. */
    void sendQuietly(Message message) {
        try {
            send(message, System.nanoTime() + TimeUnit.SECONDS.toNanos(1));
        } catch (IOException | RuntimeException ignored) {
            // the peer is gone or stuck; the caller reports the original problem
        }
    }

    /** Reads one frame synchronously (handshake, before {@link #start}); each read within the I/O timeout. */
    Message receive() throws IOException {
        return receive(Long.MAX_VALUE);
    }

    /**
     * Reads one frame synchronously; each read within the I/O timeout and, unless {@code deadlineNanos} is
     * {@link Long#MAX_VALUE}, by that absolute {@link System#nanoTime()} deadline.
     */
    Message receive(long deadlineNanos) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(4);
        channel.readFully(header, readDeadline(deadlineNanos));
        long length = Integer.toUnsignedLong(header.getInt(0));
        if (length == 0) {
            throw new ProtocolException("control frame length is 0");
        }
        if (length > maxFrameBytes) {
            throw new FrameTooLargeException(length, maxFrameBytes);
        }
        byte[] body = new byte[(int) length];
        channel.readFully(ByteBuffer.wrap(body), readDeadline(deadlineNanos));
        return Wire.decode(body);
    }

    private long readDeadline(long deadlineNanos) {
        long ioDeadline = System.nanoTime() + ioTimeoutNanos;
        return deadlineNanos == Long.MAX_VALUE || ioDeadline - deadlineNanos < 0 ? ioDeadline : deadlineNanos;
    }

    /** Starts the reader thread and the heartbeat (every third of the I/O timeout). */
    void start(String threadName, Handler handler, ScheduledExecutorService scheduler) {
        long period = Math.max(1, ioTimeoutNanos / 3);
        heartbeat = scheduler.scheduleAtFixedRate(this::sendHeartbeat, period, period, TimeUnit.NANOSECONDS);
        Thread.ofPlatform().daemon().name(threadName).start(() -> readLoop(handler));
    }

    private void sendHeartbeat() {
        if (!writeLock.tryLock()) {
            return; // a frame is being written: the peer hears from us anyway
        }
        try {
            send(new Ping());
        } catch (IOException | RuntimeException e) {
            close(); // the reader ends and reports the loss
        } finally {
            writeLock.unlock();
        }
    }

    private void readLoop(Handler handler) {
        try {
            while (true) {
                Message message = receive();
                if (message instanceof Ping) {
                    continue;
                }
                handler.onMessage(this, message);
                inbox.add(message);
            }
        } catch (Throwable e) {
            if (e instanceof ProtocolException && !channel.isClosed()) {
                sendQuietly(new Reject(Reason.PROTOCOL, e.getMessage()));
            }
            if (lostCause == null) {
                lostCause = e;
            }
            close();
            handler.onLost(this, e);
            inbox.add(LOST);
        }
    }

    /**
     * The next inbound message, or null when none arrives before the deadline.
     *
     * @throws ConnectionLostException once the connection is gone and every earlier message has been taken
     */
    Message poll(long deadlineNanos) {
        try {
            Object next = inbox.poll(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (next == LOST) {
                inbox.add(LOST); // stays lost for every later poll
                throw new ConnectionLostException("control connection to " + peer() + " lost: " + describe(lostCause),
                        lostCause);
            }
            return (Message) next;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SyncException("interrupted while waiting for " + peer(), e);
        }
    }

    boolean isOpen() {
        return !channel.isClosed();
    }

    /** Why the connection ended, or null while open. */
    Throwable lostCause() {
        return lostCause;
    }

    @Override
    public void close() {
        ScheduledFuture<?> beat = heartbeat;
        if (beat != null) {
            beat.cancel(false);
        }
        channel.close();
    }

    static String describe(Throwable cause) {
        return cause == null ? "closed" : cause.getClass().getSimpleName() + ": " + cause.getMessage();
    }
}
