package dev.rlhf4j.cli;

import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.SharedData;
import dev.rlhf4j.train.lab.HappyEndings;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.Rollouts;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * RLHF outside the lab (about 5 minutes; {@code ./mvnw verify -Plong}): stories260K, simulated annotators who like
 * happy endings, a reward model trained from stories260K on their labels, PPO against it; the happy-endings score
 * of continuations of held-out story openings rises.
 */
@Tag("long")
class StoriesPpoLongTest {

    private static void run(String... args) {
        StringWriter err = new StringWriter();
        assertEquals(0, Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args),
                String.join(" ", args) + ": " + err);
    }

    static double happiness(Path model, List<String> prompts) throws Exception {
        Pretrained pm = Pretrained.open(model, null);
        Tokenizer tok = pm.requireTokenizer();
        List<int[]> ids = new ArrayList<>();
        for (String p : prompts) {
            ids.add(Rollouts.encodePrompt(tok, Prompt.plain(p)));
        }
        List<Episode> eps = Rollouts.sample(new Generator(pm.model(), tok), tok, prompts, ids, 48, 1f, 123,
                pm.eosIds(), 64);
        double s = 0;
        for (Episode e : eps) {
            s += HappyEndings.score(e.response());
        }
        return s / eps.size();
    }

    @Test
    void ppoMakesStoriesEndHappier(@TempDir Path tmp) throws Exception {
        Path model = SharedData.require("models/stories260K/stories260K.bin");
        Path text = SharedData.require("text/tinystories-valid-sample.txt");
        Path prefs = tmp.resolve("happy"), rm = tmp.resolve("rm"), ppo = tmp.resolve("ppo");
        run("simulate-preferences", "--model", model.toString(), "--prompts", text.toString(), "--out",
                prefs.toString(), "--pairs", "2000", "--eval-pairs", "300");
        run("reward", "train", "--model", model.toString(), "--data", prefs.resolve("preferences.jsonl").toString(),
                "--eval-data", prefs.resolve("preferences-eval.jsonl").toString(), "--out", rm.toString(),
                "--num-train-epochs", "2", "--learning-rate", "1e-3", "--per-device-train-batch-size", "32",
                "--max-length", "128", "--save-steps", "0");
        run("ppo", "--policy", model.toString(), "--reward-model", rm.toString(), "--prompts",
                prefs.resolve("prompts.jsonl").toString(), "--out", ppo.toString(), "--max-steps", "30",
                "--learning-rate", "1e-4", "--response-length", "48", "--per-device-train-batch-size", "16",
                "--num-mini-batches", "2", "--normalize-reward");
        List<String> held = PromptReader.read(prefs.resolve("prompts-eval.jsonl"), null).stream().map(Prompt::text)
                .limit(256).toList();
        double before = happiness(model, held), after = happiness(ppo, held);
        System.out.printf("happy-endings score on %d held-out openings: stories260K %.3f, after PPO %.3f%n",
                held.size(), before, after);
        assertTrue(after > before + 0.3, "happy-endings score " + before + " -> " + after);
    }
}
