package dev.rlhf4j.feedback.generate;

import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.GenerationJob;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.generate.GenerationConfig;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.train.ppo.PromptReader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Samples the missing responses of a project's items from its policy checkpoint, in the background (one worker
 * thread, jobs queued; web threads never wait for it), with the project's temperature, top-p and max tokens and the
 * batched generator. Progress is in the job's row; a failure marks the job failed with its message.
 *
 * <p>Each item's missing responses are one batch of copies of its prompt, sampled with a seed derived from the item
 * id and the number of responses it already has: rows of a batch draw different random numbers, so the K responses
 * differ (unless the temperature is 0), and sampling an item again after a restart gives the same text.
 */
public final class ResponseSampler implements AutoCloseable {
    private static final long JOIN_MILLIS = 30_000;

    private final FeedbackStore store;
    private final ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "rlhf4j-response-sampler");
        t.setDaemon(true);
        return t;
    });
    /** Queued or running job id by project id: one job per project at a time. */
    private final Map<Long, Long> active = new HashMap<>();
    private volatile boolean closed;
    /** The last checkpoint opened (models are large: one is kept, by path). */
    private Path cachedPath;
    private Pretrained cachedModel;

    public ResponseSampler(FeedbackStore store) {
        this.store = store;
        // jobs a stopped server left queued or running will never finish: say so in their rows
        store.failInterruptedJobs();
    }

    /**
     * Queues a job for the items of project {@code projectId} that lack responses; returns it at once. While a job
     * of the project is queued or running, returns that job instead of starting a second.
     */
    public synchronized GenerationJob start(long projectId, Long userId) {
        if (closed) {
            throw new IllegalStateException("the response sampler is closed");
        }
        Long running = active.get(projectId);
        if (running != null) {
            return store.job(running).orElseThrow();
        }
        Project project = store.project(projectId)
                .orElseThrow(() -> new IllegalArgumentException("no project with id " + projectId));
        List<Item> items = store.itemsMissingResponses(projectId);
        String model = project.settings().policyModel();
        GenerationJob job = store.createJob(projectId, model == null ? "" : model, items.size(), userId);
        if (items.isEmpty()) {
            store.finishJob(job.id(), GenerationJob.Status.DONE, null);
            return store.job(job.id()).orElseThrow();
        }
        if (model == null) {
            store.finishJob(job.id(), GenerationJob.Status.FAILED, "project '" + project.name()
                    + "' has no policy_model: set the checkpoint to sample responses from in its settings");
            return store.job(job.id()).orElseThrow();
        }
        active.put(projectId, job.id());
        try {
            worker.execute(() -> run(job, project, items));
        } catch (RejectedExecutionException e) {
            active.remove(projectId);
            store.finishJob(job.id(), GenerationJob.Status.CANCELLED, "the server is stopping");
        }
        return store.job(job.id()).orElseThrow();
    }

    private void run(GenerationJob job, Project project, List<Item> items) {
        try {
            if (closed) {
                store.finishJob(job.id(), GenerationJob.Status.CANCELLED, "the server stopped before the job ran");
                return;
            }
            store.jobProgress(job.id(), GenerationJob.Status.RUNNING, 0);
            String error = sample(job, project, items);
            if (error == null) {
                store.finishJob(job.id(), GenerationJob.Status.DONE, null);
            } else {
                store.finishJob(job.id(), GenerationJob.Status.FAILED, error);
            }
        } catch (CancellationException e) {
            store.finishJob(job.id(), GenerationJob.Status.CANCELLED, e.getMessage());
        } catch (RuntimeException | Error e) {
            // the job row is the only place a person sees what went wrong
            String message = e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
            try {
                store.finishJob(job.id(), GenerationJob.Status.FAILED, message);
            } catch (RuntimeException ignored) {
                // the store itself is gone (closing); failInterruptedJobs marks the row at the next start
            }
        } finally {
            synchronized (this) {
                active.remove(project.id());
            }
        }
    }

    /**
     * Samples every item's missing responses; returns null when done, else why it failed. Throws
     * {@link CancellationException} when the sampler is closed during the job.
     */
    private String sample(GenerationJob job, Project project, List<Item> items) {
        String modelPath = project.settings().policyModel();
        Path path = Path.of(modelPath);
        if (!Files.exists(path)) {
            return "policy_model " + modelPath + " does not exist (project '" + project.name() + "')";
        }
        Pretrained pm;
        try {
            pm = open(path);
        } catch (Exception e) {
            return "policy_model " + modelPath + " cannot be read: " + e.getMessage();
        }
        if (pm.tokenizer() == null) {
            return "policy_model " + modelPath + ": no tokenizer found beside the checkpoint";
        }
        Sampling s = project.settings().sampling();
        int k = project.settings().responsesPerItem();
        int maxSeqLen = pm.model().config().maxSeqLen();
        // every prompt is encoded and checked first, so a prompt that cannot fit fails the job before any sampling
        List<int[]> prompts = new ArrayList<>();
        for (Item item : items) {
            String where = describe(item);
            int[] ids;
            try {
                ids = item.isChat() ? pm.encodeChat(item.messages()) : pm.encodePrompt(item.prompt());
            } catch (RuntimeException e) {
                return where + ": " + e.getMessage();
            }
            try {
                PromptReader.checkLength(where, ids.length, s.maxNewTokens(), "max_new_tokens " + s.maxNewTokens(),
                        maxSeqLen);
            } catch (RuntimeException e) {
                return e.getMessage();
            }
            prompts.add(ids);
        }
        Generator generator = new Generator(pm.model(), pm.tokenizer());
        for (int i = 0; i < items.size(); i++) {
            if (closed) {
                throw new CancellationException("the server stopped during the job (" + i + " of " + items.size()
                        + " items done)");
            }
            Item item = items.get(i);
            int have = store.responses(item.id()).size();
            int need = k - have;
            if (need > 0) {
                GenerationConfig cfg = new GenerationConfig(s.maxNewTokens(), (float) s.temperature(), 0,
                        (float) s.topP(), seed(item.id(), have), pm.eosIds(), List.of());
                List<Generation> gens = generator.generate(Collections.nCopies(need, prompts.get(i)), cfg);
                List<String> texts = new ArrayList<>();
                for (Generation g : gens) {
                    texts.add(g.text());
                }
                store.addResponses(item.id(), texts, modelPath);
            }
            store.jobProgress(job.id(), GenerationJob.Status.RUNNING, i + 1);
        }
        return null;
    }

    private static String describe(Item item) {
        return "item " + item.id() + (item.externalId() != null ? " (id " + item.externalId() + ")" : "");
    }

    /** A seed for an item's batch: SplitMix64's finaliser over the item id and its response count. */
    static long seed(long itemId, int have) {
        long z = itemId * 0x9E3779B97F4A7C15L + have;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private Pretrained open(Path path) throws Exception {
        // only the worker thread reads the cache
        Path key = path.toAbsolutePath().normalize();
        if (!key.equals(cachedPath)) {
            cachedModel = null;
            cachedPath = null;
            cachedModel = Pretrained.open(key, null);
            cachedPath = key;
        }
        return cachedModel;
    }

    boolean isClosed() {
        return closed;
    }

    /** Stops the worker; a running job is marked cancelled (after its current batch), queued ones too. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        worker.shutdown();
        try {
            if (!worker.awaitTermination(JOIN_MILLIS, TimeUnit.MILLISECONDS)) {
                worker.shutdownNow();
                worker.awaitTermination(JOIN_MILLIS, TimeUnit.MILLISECONDS);
            }
        } catch (InterruptedException e) {
            worker.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
