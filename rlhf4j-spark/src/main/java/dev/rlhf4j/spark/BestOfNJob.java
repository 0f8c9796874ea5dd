package dev.rlhf4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.online.BestOfN;
import dev.rlhf4j.train.online.BestOfNRun;
import dev.rlhf4j.train.online.RewardSource;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.Rollouts;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import scala.Tuple2;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code rlhf4j best-of-n} as a Spark job: n samples per prompt, the reward's best kept, one record per prompt
 * ({@code {"prompt", "completion", "score", "scores"}}), exactly what the single-process command writes for the same
 * policy, reward, prompts and seed.
 *
 * <p>Partitioning: best-of-n samples the sequence {@code i * n + k} (sample k of prompt i) in batches of
 * {@code --batch-size} consecutive sequences, each batch's sampler seeded from the seed and the batch's first
 * position ({@link Rollouts#sampleChunk}), and scores the episodes in the same batches. The job spreads those batches
 * over the partitions in order (a batch may hold samples of two prompts; it carries the prompt records it needs); a
 * task samples and scores its batches, and a second stage groups the samples by prompt and keeps the best
 * ({@link BestOfN#best}), in prompt order. Each executor loads the policy and the reward model once
 * ({@link ModelCache}).
 */
public final class BestOfNJob {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The job's settings, shipped to every task.
     *
     * @param rewardModel     a reward model's path, or null with {@code labSeed}
     * @param labSeed         the lab world whose gold reward scores, or null with a reward model
     * @param normalizeReward normalise the reward model's scores with its stored statistics
     * @param threads         threads per executor JVM; 0 leaves the pool as it is
     */
    public record Settings(String policy, String rewardModel, Long labSeed, boolean normalizeReward,
                           BestOfNRun.Settings sampling, int threads) implements Serializable {
        public Settings {
            reward(rewardModel, labSeed, normalizeReward);
        }

        RewardSource reward() {
            return reward(rewardModel, labSeed, normalizeReward);
        }

        private static RewardSource reward(String rewardModel, Long labSeed, boolean normalizeReward) {
            return new RewardSource(rewardModel == null ? null : Path.of(rewardModel), labSeed, normalizeReward);
        }
    }

    /** Sequences {@code from} to {@code to - 1} of the sampling order, with the records of the prompts among them. */
    record Batch(long from, long to, List<JobIo.Line> prompts) implements Serializable {
    }

    /** Sample {@code k} of a prompt: its response, score and length in tokens. */
    record Sample(int k, String response, double score, int tokens) implements Serializable {
    }

    /** The policy and the reward function of an executor JVM, and the generator that samples the policy. */
    record Models(Pretrained policy, Generator generator, RewardFunction reward) {
    }

    private BestOfNJob() {
    }

    /** The prompt records of {@code prompts}, checked as {@code best-of-n --prompts} checks them. */
    public static List<JobIo.Line> read(SparkSession spark, Path prompts) throws IOException {
        return JobIo.read(spark, "--prompts", prompts, PromptReader::record);
    }

    /** The choices, one JSON line per prompt, in input order. */
    public static JavaRDD<String> run(SparkSession spark, Settings s, List<JobIo.Line> prompts, int partitions) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int n = s.sampling().n(), batchSize = s.sampling().batchSize();
        long total = (long) prompts.size() * n;
        List<Batch> batches = new ArrayList<>();
        for (long from = 0; from < total; from += batchSize) {
            long to = Math.min(total, from + batchSize);
            batches.add(new Batch(from, to, new ArrayList<>(prompts.subList((int) (from / n),
                    (int) ((to - 1) / n) + 1))));
        }
        int slices = Math.max(1, Math.min(batches.size(), partitions > 0 ? partitions : jsc.defaultParallelism()));
        JavaRDD<Tuple2<JobIo.Line, Sample>> samples = jsc.parallelize(batches, slices).mapPartitions(it -> {
            ModelCache.Entry<Models> m = models(s);
            List<Tuple2<JobIo.Line, Sample>> out = new ArrayList<>();
            synchronized (m.lock()) {
                while (it.hasNext()) {
                    out.addAll(sample(m.value(), s, it.next()));
                }
            }
            return out.iterator();
        });
        return samples.mapToPair(t -> new Tuple2<>(t._1().index(), t)).groupByKey().sortByKey().map(g -> {
            JobIo.Line line = null;
            double[] scores = new double[n];
            String[] responses = new String[n];
            for (Tuple2<JobIo.Line, Sample> t : g._2()) {
                line = t._1();
                scores[t._2().k()] = t._2().score();
                responses[t._2().k()] = t._2().response();
            }
            int best = BestOfN.best(scores);
            PromptReader.Record rec = PromptReader.record(line.node(), line.where());
            return JSON.writeValueAsString(BestOfNRun.json(rec, responses[best], scores[best], scores));
        });
    }

    /** Samples and scores one batch, as best-of-n samples and scores it in one process. */
    private static List<Tuple2<JobIo.Line, Sample>> sample(Models m, Settings s, Batch b) {
        int n = s.sampling().n();
        Tokenizer tok = m.policy().tokenizer();
        int maxSeq = m.policy().model().config().maxSeqLen();
        List<Prompt> prompts = new ArrayList<>();
        List<int[]> ids = new ArrayList<>();
        for (JobIo.Line l : b.prompts()) {
            Prompt p = PromptReader.prompt(PromptReader.record(l.node(), l.where()), m.policy().chatTemplate());
            prompts.add(p);
            ids.add(BestOfN.encode(tok, p, Math.toIntExact(l.index()), s.sampling().maxNewTokens(), maxSeq));
        }
        s.reward().checkPrompts(m.reward(), prompts);
        long first = b.prompts().getFirst().index();
        List<String> texts = new ArrayList<>();
        List<int[]> tokens = new ArrayList<>();
        for (long e = b.from(); e < b.to(); e++) {
            int p = (int) (e / n - first);
            texts.add(prompts.get(p).text());
            tokens.add(ids.get(p));
        }
        List<Episode> eps = Rollouts.sampleChunk(m.generator(), tok, texts, tokens, s.sampling().maxNewTokens(),
                s.sampling().temperature(), s.sampling().seed(), b.from(), m.policy().eosIds());
        double[] scores = m.reward().score(eps);
        List<Tuple2<JobIo.Line, Sample>> out = new ArrayList<>(eps.size());
        for (int j = 0; j < eps.size(); j++) {
            long e = b.from() + j;
            Episode ep = eps.get(j);
            out.add(new Tuple2<>(b.prompts().get((int) (e / n - first)), new Sample((int) (e % n), ep.response(),
                    scores[j], ep.responseTokens().length)));
        }
        return out;
    }

    /** The policy and reward of this executor JVM, loaded on first use. */
    static ModelCache.Entry<Models> models(Settings s) {
        GenerateJob.Threads.apply(s.threads());
        Path policy = Path.of(s.policy());
        String reward = s.rewardModel() != null
                ? "reward model " + Path.of(s.rewardModel()).toAbsolutePath() + " "
                        + ModelCache.fingerprint(Path.of(s.rewardModel())) + (s.normalizeReward() ? " normalized" : "")
                : "lab:" + s.labSeed();
        ModelCache.Key key = new ModelCache.Key("best-of-n " + reward + " batch " + s.sampling().batchSize(),
                policy.toAbsolutePath().toString(), null, ModelCache.fingerprint(policy));
        return ModelCache.get(key, () -> {
            Pretrained pm = Pretrained.open(policy, null);
            Tokenizer tok = pm.requireTokenizer();
            if (!pm.model().heads().lm()) {
                throw new UserError(policy + ": the policy must be a language model (it has no LM head)");
            }
            RewardFunction rf = s.reward().open(tok, s.sampling().batchSize());
            pm.model().freeze();
            return new Models(pm, new Generator(pm.model(), tok), rf);
        });
    }
}
