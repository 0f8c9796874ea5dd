package dev.rlhf4j.spark.dp;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.util.TaskCompletionListener;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A ring all-reduce between the tasks of a Spark barrier stage (Patarasuk and Yuan 2009; what NCCL and Horovod do):
 * each task listens on a free port, the tasks exchange {@code host:port} through
 * {@link BarrierTaskContext#allGather}, and each connects to its successor in partition order. A sum of L floats is
 * cut into N chunks and takes 2(N − 1) steps: a reduce-scatter, after which replica r holds the complete sum of
 * chunk r + 1 (built up once, in ring order, as it travelled), then an all-gather that passes each complete chunk
 * around unchanged. Every replica therefore ends with the same bits, and sends 2(N − 1)/N·L floats whatever N is.
 * Each step sends on a second thread while receiving on this one (full duplex).
 *
 * <p>A peer that sends nothing for {@code timeout} (a stuck or lost task) fails the sum with a message naming it;
 * a task Spark kills notices within a second. The sockets close when the task ends, whichever way.
 */
public final class RingAllReduce extends BarrierReducer {
    /** Floats per write and read (1 MiB): bounds the buffers, lets the receiver add while the sender sends. */
    private static final int BLOCK = 1 << 18;
    private static final int MAGIC = 0x726c6866; // "rlhf"
    /** How often a blocked read or wait checks whether the task was killed. */
    private static final int POLL_MS = 1000;

    private final BarrierTaskContext task;
    private final Duration timeout;
    private final String previousAddress, nextAddress;
    private final ServerSocket server;
    private final Socket toNext, fromPrevious;
    private final OutputStream out;
    private final InputStream in;
    private final ExecutorService sender;
    private final byte[] sendBytes = new byte[4 * BLOCK], receiveBytes = new byte[4 * BLOCK];
    private final FloatBuffer sendFloats = ByteBuffer.wrap(sendBytes).order(ByteOrder.LITTLE_ENDIAN)
            .asFloatBuffer();
    private final FloatBuffer receiveFloats = ByteBuffer.wrap(receiveBytes).order(ByteOrder.LITTLE_ENDIAN)
            .asFloatBuffer();
    private final float[] received = new float[BLOCK];
    private volatile boolean closed;

    private RingAllReduce(BarrierTaskContext task, int replica, int replicas, Duration timeout, String previous,
                          String next, ServerSocket server, Socket toNext, Socket fromPrevious) throws IOException {
        super(replica, replicas);
        this.task = task;
        this.timeout = timeout;
        this.previousAddress = previous;
        this.nextAddress = next;
        this.server = server;
        this.toNext = toNext;
        this.fromPrevious = fromPrevious;
        this.out = toNext == null ? null : toNext.getOutputStream();
        this.in = fromPrevious == null ? null : fromPrevious.getInputStream();
        this.sender = toNext == null ? null : Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "ring-all-reduce-send-" + replica);
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Builds the ring between the tasks of the current barrier stage: every task must call this at the same point
     * (it calls {@code allGather}). The sockets close when the task ends.
     *
     * @param timeout how long a peer may send nothing before a sum fails (it includes the time the slowest replica
     *                takes to compute its gradient)
     */
    public static RingAllReduce open(BarrierTaskContext task, Duration timeout) throws IOException {
        int replica = task.partitionId(), n = task.getTaskInfos().length;
        ServerSocket server = new ServerSocket();
        RingAllReduce ring = null;
        try {
            server.bind(new InetSocketAddress(0));
            server.setSoTimeout(POLL_MS);
            String host = host(task.getTaskInfos()[replica].address());
            // allGather orders the messages by partition: addresses[r] is replica r's
            String[] addresses = task.allGather(host + ":" + server.getLocalPort());
            if (n == 1) {
                ring = new RingAllReduce(task, 0, 1, timeout, null, null, server, null, null);
            } else {
                String next = addresses[(replica + 1) % n], previous = addresses[(replica + n - 1) % n];
                // connecting first is safe: the successor's listening socket queues the connection until it accepts
                Socket toNext = connect(next, replica, n, timeout);
                Socket fromPrevious;
                try {
                    fromPrevious = accept(server, task, (replica + n - 1) % n, previous, replica, timeout);
                } catch (IOException | RuntimeException e) {
                    toNext.close();
                    throw e;
                }
                ring = new RingAllReduce(task, replica, n, timeout, previous, next, server, toNext, fromPrevious);
            }
        } finally {
            if (ring == null) {
                server.close();
            }
        }
        RingAllReduce r = ring;
        task.addTaskCompletionListener((TaskCompletionListener) context -> r.close());
        return r;
    }

    /** The host of a task's address ({@code host:port}, as {@code BarrierTaskInfo} gives it). */
    private static String host(String address) {
        int colon = address.lastIndexOf(':');
        return colon > 0 && address.indexOf(':') == colon ? address.substring(0, colon) : address;
    }

    private static Socket connect(String address, int replica, int n, Duration timeout) throws IOException {
        int colon = address.lastIndexOf(':');
        InetSocketAddress to = new InetSocketAddress(address.substring(0, colon),
                Integer.parseInt(address.substring(colon + 1)));
        Socket s = new Socket();
        try {
            s.setTcpNoDelay(true);
            s.setSendBufferSize(4 << 20);
            s.connect(to, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            DataOutputStream hello = new DataOutputStream(s.getOutputStream());
            hello.writeInt(MAGIC);
            hello.writeInt(replica);
            hello.writeInt(n);
            hello.flush();
            return s;
        } catch (IOException e) {
            s.close();
            throw new IOException("ring all-reduce: replica " + replica + " cannot connect to replica "
                    + (replica + 1) % n + " at " + address + ": " + e.getMessage(), e);
        }
    }

    /** Accepts the predecessor's connection: the one whose hello names it (anything else is closed). */
    private static Socket accept(ServerSocket server, BarrierTaskContext task, int previous, String address,
                                 int replica, Duration timeout) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Socket s;
            try {
                s = server.accept();
            } catch (SocketTimeoutException e) {
                task.killTaskIfInterrupted();
                if (System.nanoTime() > deadline) {
                    throw new IOException("ring all-reduce: replica " + replica + " waited " + timeout.toSeconds()
                            + " s for replica " + previous + " (" + address + ") to connect");
                }
                continue;
            }
            s.setSoTimeout(POLL_MS);
            s.setReceiveBufferSize(4 << 20);
            try {
                DataInputStream hello = new DataInputStream(s.getInputStream());
                if (hello.readInt() == MAGIC && hello.readInt() == previous) {
                    hello.readInt();
                    return s;
                }
            } catch (IOException e) {
                // not our predecessor (a stray connection): keep waiting for it
            }
            s.close();
        }
    }

    private int previous() {
        return (replica() + replicas() - 1) % replicas();
    }

    @Override
    void sumFloats(float[] data, int from, int length) {
        int n = replicas(), r = replica();
        int[] bounds = new int[n + 1];
        for (int c = 0; c <= n; c++) {
            bounds[c] = from + (int) ((long) length * c / n);
        }
        try {
            // reduce-scatter: step s sends chunk r − s and adds chunk r − s − 1 from the predecessor
            for (int s = 0; s < n - 1; s++) {
                int send = Math.floorMod(r - s, n), receive = Math.floorMod(r - s - 1, n);
                exchange(data, bounds[send], bounds[send + 1], bounds[receive], bounds[receive + 1], true);
            }
            // all-gather: the complete chunk r + 1 goes round; each replica copies what it receives
            for (int s = 0; s < n - 1; s++) {
                int send = Math.floorMod(r + 1 - s, n), receive = Math.floorMod(r - s, n);
                exchange(data, bounds[send], bounds[send + 1], bounds[receive], bounds[receive + 1], false);
            }
        } catch (IOException e) {
            close();
            throw new UncheckedIOException(e);
        }
    }

    /** Sends {@code data[sendFrom, sendTo)} to the successor while receiving {@code [receiveFrom, receiveTo)}. */
    private void exchange(float[] data, int sendFrom, int sendTo, int receiveFrom, int receiveTo, boolean add)
            throws IOException {
        Future<?> sent = sender.submit(() -> {
            send(data, sendFrom, sendTo);
            return null;
        });
        try {
            receive(data, receiveFrom, receiveTo, add);
            awaitSent(sent);
        } catch (IOException | RuntimeException e) {
            sent.cancel(true);
            throw e;
        }
        bytesSent += 4L * (sendTo - sendFrom);
    }

    private void send(float[] data, int from, int to) throws IOException {
        for (int i = from; i < to; i += BLOCK) {
            int m = Math.min(BLOCK, to - i);
            sendFloats.clear();
            sendFloats.put(data, i, m);
            out.write(sendBytes, 0, 4 * m);
        }
        out.flush();
    }

    private void receive(float[] data, int from, int to, boolean add) throws IOException {
        for (int i = from; i < to; i += BLOCK) {
            int m = Math.min(BLOCK, to - i);
            readFully(4 * m);
            receiveFloats.clear();
            if (add) {
                receiveFloats.get(received, 0, m);
                for (int k = 0; k < m; k++) {
                    data[i + k] += received[k];
                }
            } else {
                receiveFloats.get(data, i, m);
            }
        }
    }

    private void readFully(int bytes) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        for (int off = 0; off < bytes; ) {
            try {
                int k = in.read(receiveBytes, off, bytes - off);
                if (k < 0) {
                    throw new IOException("ring all-reduce: replica " + previous() + " (" + previousAddress
                            + ") closed the connection to replica " + replica() + " (its task failed or ended)");
                }
                off += k;
                deadline = System.nanoTime() + timeout.toNanos();
            } catch (SocketTimeoutException e) {
                waited(deadline, "replica " + previous() + " (" + previousAddress + ") to send");
            }
        }
    }

    private void awaitSent(Future<?> sent) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            try {
                sent.get(POLL_MS, TimeUnit.MILLISECONDS);
                return;
            } catch (TimeoutException e) {
                waited(deadline, "replica " + (replica() + 1) % replicas() + " (" + nextAddress + ") to receive");
            } catch (ExecutionException e) {
                throw new IOException("ring all-reduce: replica " + replica() + " cannot send to replica "
                        + (replica() + 1) % replicas() + " (" + nextAddress + "): " + e.getCause().getMessage(),
                        e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("ring all-reduce: interrupted", e);
            }
        }
    }

    /** After a poll that found nothing: fails when the task was killed or the peer has been silent too long. */
    private void waited(long deadline, String what) throws IOException {
        if (closed) {
            throw new IOException("ring all-reduce: closed while waiting for " + what);
        }
        task.killTaskIfInterrupted();
        if (System.nanoTime() > deadline) {
            throw new IOException("ring all-reduce: replica " + replica() + " waited " + timeout.toSeconds()
                    + " s for " + what + "; is that task stuck or lost?");
        }
    }

    @Override
    double[] sumDoubles(double[] values) {
        if (8L * values.length > receiveBytes.length) {
            throw new IllegalArgumentException("at most " + receiveBytes.length / 8 + " doubles at once, got "
                    + values.length);
        }
        // few values (a step's loss and counts): every replica gathers all of them round the ring, then sums them
        // in replica order, so all get the same bits
        int n = replicas(), r = replica();
        double[][] all = new double[n][];
        all[r] = values.clone();
        try {
            for (int s = 0; s < n - 1; s++) {
                double[] mine = all[Math.floorMod(r - s, n)];
                Future<?> sent = sender.submit(() -> {
                    DataOutputStream o = new DataOutputStream(out);
                    o.writeInt(mine.length);
                    for (double v : mine) {
                        o.writeDouble(v);
                    }
                    o.flush();
                    return null;
                });
                int len = readInt();
                if (len != values.length) {
                    throw new IllegalStateException("replicas summed arrays of different lengths: " + len + " and "
                            + values.length);
                }
                double[] theirs = new double[len];
                readFully(8 * len);
                ByteBuffer.wrap(receiveBytes, 0, 8 * len).asDoubleBuffer().get(theirs);
                all[Math.floorMod(r - s - 1, n)] = theirs;
                awaitSent(sent);
                bytesSent += 4 + 8L * mine.length;
            }
        } catch (IOException e) {
            close();
            throw new UncheckedIOException(e);
        }
        double[] sum = new double[values.length];
        for (double[] v : all) {
            for (int i = 0; i < sum.length; i++) {
                sum[i] += v[i];
            }
        }
        return sum;
    }

    private int readInt() throws IOException {
        readFully(4);
        return ByteBuffer.wrap(receiveBytes, 0, 4).getInt();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (sender != null) {
            sender.shutdownNow();
        }
        for (AutoCloseable c : new AutoCloseable[] {toNext, fromPrevious, server}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                // closing: nothing left to do
            }
        }
    }
}
