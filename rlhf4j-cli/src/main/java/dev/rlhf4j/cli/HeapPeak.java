package dev.rlhf4j.cli;

import com.sun.management.GarbageCollectionNotificationInfo;

import javax.management.Notification;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The most heap a stage held: the largest heap in use right after any garbage collection while it ran, and the heap
 * in use when it ends if that is more. Garbage between collections is not counted, but garbage already promoted to
 * the old generation is, until a full collection: an upper bound of the stage's live memory that moves with the
 * collector's timing. An in-process measure, comparable between stages of one JVM, not a process's resident size.
 */
final class HeapPeak implements NotificationListener {
    private final AtomicLong peak = new AtomicLong();
    private final List<NotificationEmitter> emitters = new ArrayList<>();
    private final java.util.Set<String> heapPools = new java.util.HashSet<>();

    private HeapPeak() {
    }

    /** Starts watching after a collection, so that what earlier stages left behind is not counted. */
    static HeapPeak start() {
        System.gc();
        HeapPeak p = new HeapPeak();
        for (java.lang.management.MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == java.lang.management.MemoryType.HEAP) {
                p.heapPools.add(pool.getName());
            }
        }
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            if (gc instanceof NotificationEmitter e) {
                e.addNotificationListener(p, null, null);
                p.emitters.add(e);
            }
        }
        p.peak.set(used());
        return p;
    }

    /** Stops watching; the peak in bytes. */
    long stop() {
        peak.accumulateAndGet(used(), Math::max);
        for (NotificationEmitter e : emitters) {
            try {
                e.removeNotificationListener(this);
            } catch (javax.management.ListenerNotFoundException ignored) {
                // removed already
            }
        }
        return peak.get();
    }

    @Override
    public void handleNotification(Notification n, Object handback) {
        if (!GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(n.getType())) {
            return;
        }
        GarbageCollectionNotificationInfo info = GarbageCollectionNotificationInfo.from(
                (CompositeData) n.getUserData());
        long after = 0;
        // the heap's pools only: the map holds Metaspace and the code cache too
        for (java.util.Map.Entry<String, MemoryUsage> e : info.getGcInfo().getMemoryUsageAfterGc().entrySet()) {
            if (heapPools.contains(e.getKey())) {
                after += e.getValue().getUsed();
            }
        }
        peak.accumulateAndGet(after, Math::max);
    }

    private static long used() {
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
