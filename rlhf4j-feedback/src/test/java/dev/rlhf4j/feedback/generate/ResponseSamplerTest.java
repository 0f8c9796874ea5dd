package dev.rlhf4j.feedback.generate;

import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.GenerationJob;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Background sampling of K responses per item from the real stories260K checkpoint (skipped where absent). */
class ResponseSamplerTest {
    private static final String STORIES = "models/stories260K/stories260K.bin";
    /** A bound on how long a job on the 260K-parameter model may take, so a broken worker fails instead of hanging. */
    private static final long WAIT_MILLIS = 120_000;

    private static Project ranking(FeedbackStore store, String policy, int maxNewTokens) {
        return store.createProject(new ProjectSettings("stories", TaskType.RANKING, "", 3, 0.0, 2,
                new Sampling(1.0, 0.95, maxNewTokens), policy, null), null);
    }

    private static List<NewItem> fourPrompts() {
        return List.of(new NewItem("Once upon a time", null, "a", List.of()),
                new NewItem("The little dog", null, "b", List.of()),
                new NewItem("Lily went to the park", null, "c", List.of()),
                new NewItem("Tim and Sue", List.of(new ChatTemplate.Message("user", "Tim and Sue")), "d", List.of()));
    }

    private static GenerationJob await(FeedbackStore store, long jobId) throws InterruptedException {
        long until = System.currentTimeMillis() + WAIT_MILLIS;
        while (System.currentTimeMillis() < until) {
            GenerationJob j = store.job(jobId).orElseThrow();
            if (j.status().finished()) {
                return j;
            }
            Thread.sleep(20);
        }
        return fail("job " + jobId + " did not finish");
    }

    @Test
    void aRankingProjectGetsThreeSampledResponsesPerItem(@TempDir Path dir) throws Exception {
        Path model = SharedData.require(STORIES);
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore store = new FeedbackStore(db);
            Project p = ranking(store, model.toString(), 24);
            List<Item> items = store.addItems(p.id(), fourPrompts());
            // one item already has a response imported: only the two missing are sampled, after it
            store.addResponses(items.get(0).id(), List.of("imported"), "import");
            try (ResponseSampler sampler = new ResponseSampler(store)) {
                GenerationJob job = await(store, sampler.start(p.id(), null).id());
                assertEquals(GenerationJob.Status.DONE, job.status(), String.valueOf(job.error()));
                assertEquals(4, job.total());
                assertEquals(job.total(), job.done());
                for (Item item : items) {
                    List<Response> rs = store.responses(item.id());
                    assertEquals(3, rs.size(), "item " + item.externalId());
                    HashSet<String> texts = new HashSet<>();
                    for (Response r : rs) {
                        assertFalse(r.text().isBlank(), "item " + item.externalId() + " response " + r.position());
                        texts.add(r.text());
                    }
                    // sampled at temperature 1, the three responses differ
                    assertEquals(3, texts.size(), rs.toString());
                }
                assertEquals("imported", store.responses(items.get(0).id()).get(0).text());
                assertEquals(model.toString(), store.responses(items.get(0).id()).get(1).source());
                assertTrue(store.itemsMissingResponses(p.id()).isEmpty());
                // nothing left to sample: the next job is done at once
                assertEquals(GenerationJob.Status.DONE, sampler.start(p.id(), null).status());
            }
        }
    }

    @Test
    void aMissingCheckpointFailsTheJobNamingThePath(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("no-such-model.bin");
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore store = new FeedbackStore(db);
            Project p = ranking(store, missing.toString(), 8);
            store.addItems(p.id(), fourPrompts());
            try (ResponseSampler sampler = new ResponseSampler(store)) {
                GenerationJob job = await(store, sampler.start(p.id(), null).id());
                assertEquals(GenerationJob.Status.FAILED, job.status());
                assertTrue(job.error().contains(missing.toString()), job.error());
                assertEquals(4, store.itemsMissingResponses(p.id()).size());
            }
        }
    }

    @Test
    void aPromptTooLongForTheModelFailsTheJobNamingTheItem(@TempDir Path dir) throws Exception {
        Path model = SharedData.require(STORIES);
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore store = new FeedbackStore(db);
            // stories260K has 512 positions: 600 new tokens never fit
            Project p = ranking(store, model.toString(), 600);
            store.addItems(p.id(), List.of(new NewItem("Once upon a time", null, "long-one", List.of())));
            try (ResponseSampler sampler = new ResponseSampler(store)) {
                GenerationJob job = await(store, sampler.start(p.id(), null).id());
                assertEquals(GenerationJob.Status.FAILED, job.status());
                assertTrue(job.error().contains("(id long-one)") && job.error().contains("512"), job.error());
            }
        }
    }

    @Test
    void startReturnsAtOnceAndASecondStartGetsTheRunningJob(@TempDir Path dir) throws Exception {
        Path model = SharedData.require(STORIES);
        Thread caller = Thread.currentThread();
        CountDownLatch release = new CountDownLatch(1);
        // the store's clock holds any other thread (the worker, when it stores responses) until released: had
        // start() sampled on the caller's thread, it would have returned a finished job
        LongSupplier clock = () -> {
            if (Thread.currentThread() != caller) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            return System.currentTimeMillis();
        };
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore store = new FeedbackStore(db, clock);
            Project p = ranking(store, model.toString(), 8);
            store.addItems(p.id(), fourPrompts());
            try (ResponseSampler sampler = new ResponseSampler(store)) {
                GenerationJob job = sampler.start(p.id(), null);
                assertFalse(job.status().finished(), job.toString());
                assertFalse(store.job(job.id()).orElseThrow().status().finished());
                assertEquals(job.id(), sampler.start(p.id(), null).id());
                assertEquals(1, store.jobs(p.id()).size());
                release.countDown();
                assertEquals(GenerationJob.Status.DONE, await(store, job.id()).status());
                GenerationJob next = sampler.start(p.id(), null);
                assertNotEquals(job.id(), next.id());
            }
        }
    }

    @Test
    void closeCancelsTheRunningJob(@TempDir Path dir) throws Exception {
        Path model = SharedData.require(STORIES);
        Thread caller = Thread.currentThread();
        AtomicReference<ResponseSampler> sampler = new AtomicReference<>();
        // the worker, when it first stores responses, waits until the sampler is closing
        LongSupplier clock = () -> {
            while (Thread.currentThread() != caller && !sampler.get().isClosed()) {
                Thread.onSpinWait();
            }
            return System.currentTimeMillis();
        };
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore store = new FeedbackStore(db, clock);
            Project p = ranking(store, model.toString(), 8);
            store.addItems(p.id(), fourPrompts());
            sampler.set(new ResponseSampler(store));
            GenerationJob job = sampler.get().start(p.id(), null);
            sampler.get().close();
            GenerationJob after = store.job(job.id()).orElseThrow();
            assertEquals(GenerationJob.Status.CANCELLED, after.status(), String.valueOf(after.error()));
            assertTrue(after.done() < after.total(), after.toString());
        }
    }

    @Test
    void jobsLeftRunningByAStoppedServerAreMarkedFailed(@TempDir Path dir) {
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore store = new FeedbackStore(db);
            Project p = ranking(store, "x.bin", 8);
            GenerationJob orphan = store.createJob(p.id(), "x.bin", 4, null);
            try (ResponseSampler ignored = new ResponseSampler(store)) {
                GenerationJob j = store.job(orphan.id()).orElseThrow();
                assertEquals(GenerationJob.Status.FAILED, j.status());
            }
        }
    }
}
