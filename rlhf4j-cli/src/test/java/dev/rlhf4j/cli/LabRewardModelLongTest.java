package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.reward.RewardObjective;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The lab's reward-model claims end to end through the CLI (about 8 minutes on 2 cores; run with
 * {@code ./mvnw verify -Plong}): a base model pretrained on the lab corpus, SFT, a reward model on pairs labelled by
 * the calibrated annotators that comes within 3 points of the best accuracy their noise allows, and a reward model
 * trained on length-biased labels that prefers longer answers where the gold reward does not.
 */
@Tag("long")
class LabRewardModelLongTest {
    private StringWriter err = new StringWriter();

    private void run(String... args) {
        err = new StringWriter();
        int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args);
        assertEquals(0, code, String.join(" ", args) + ": " + err);
    }

    @Test
    void labRewardModelsReachTheAnnotatorsCeilingAndLearnTheirLengthBias(@TempDir Path tmp) throws Exception {
        Path lab = tmp.resolve("lab"), biased = tmp.resolve("lab-biased");
        run("lab", "generate", "--out", lab.toString(), "--pairs", "12000");
        run("lab", "generate", "--out", biased.toString(), "--pairs", "12000", "--length-bias", "0.1");
        Path modelCfg = tmp.resolve("model.yaml");
        Files.writeString(modelCfg, "family: llama\ndim: 96\nlayers: 4\nheads: 6\nkv_heads: 3\nmax_seq_len: 128\n");
        String[] common = {"--max-length", "128", "--lr-scheduler-type", "cosine", "--save-steps", "0",
                "--logging-steps", "1000"};
        run(concat(new String[] {"pretrain", "--model", modelCfg.toString(), "--tokenizer",
                lab.resolve("tokenizer").toString(), "--data", lab.resolve("corpus.jsonl").toString(), "--out",
                tmp.resolve("base").toString(), "--per-device-train-batch-size", "16", "--num-train-epochs", "1",
                "--learning-rate", "3e-3", "--warmup-ratio", "0.05"}, common));
        run(concat(new String[] {"sft", "--model", tmp.resolve("base").toString(), "--data",
                lab.resolve("sft.jsonl").toString(), "--out", tmp.resolve("sft").toString(),
                "--per-device-train-batch-size", "16", "--num-train-epochs", "2", "--learning-rate", "1e-3"}, common));
        for (Path data : new Path[] {lab, biased}) {
            run(concat(new String[] {"reward", "train", "--model", tmp.resolve("sft").toString(), "--data",
                    data.resolve("preferences.jsonl").toString(), "--eval-data",
                    data.resolve("preferences-eval.jsonl").toString(), "--out", data.resolve("rm").toString(),
                    "--per-device-train-batch-size", "32", "--num-train-epochs", "2", "--learning-rate", "5e-4",
                    "--warmup-ratio", "0.05"}, common));
        }
        ObjectMapper json = new ObjectMapper();
        JsonNode info = json.readTree(lab.resolve("lab.json").toFile());
        double best = info.get("best_accuracy_eval").asDouble();
        JsonNode results = json.readTree(lab.resolve("rm").resolve("train_results.json").toFile());
        double accuracy = results.get("eval_accuracy").asDouble();
        assertTrue(accuracy >= best - 0.03, "reward model accuracy " + accuracy + " vs best possible " + best);

        // Length bias: the ideal answer against the same answer with two filler sentences, which the gold reward
        // ranks lower; the reward model trained on biased labels ranks it higher, the unbiased one lower.
        LabWorld world = new LabWorld(0);
        List<String> prompts = LabData.prompts(world, 200, 99);
        double[] preferLonger = new double[2];
        int k = 0;
        for (Path data : new Path[] {lab, biased}) {
            Pretrained rm = Pretrained.open(data.resolve("rm"), null);
            Tokenizer tok = rm.requireTokenizer();
            List<int[]> seqs = new ArrayList<>();
            for (String p : prompts) {
                String ideal = world.idealResponse(world.parse(p));
                String wordy = ideal + " I hope this helps. Let me know if you need more.";
                assertTrue(world.score(p, wordy).total() < world.score(p, ideal).total());
                seqs.add(PairTokenization.encodeText(tok, p, " " + ideal, 128));
                seqs.add(PairTokenization.encodeText(tok, p, " " + wordy, 128));
            }
            double[] r = RewardObjective.score(rm.model(), seqs, 32, 128, 0);
            int longer = 0;
            for (int i = 0; i < r.length; i += 2) {
                longer += r[i + 1] > r[i] ? 1 : 0;
            }
            preferLonger[k++] = (double) longer / prompts.size();
        }
        assertTrue(preferLonger[0] < 0.2, "unbiased reward model prefers the wordy answer " + preferLonger[0]);
        assertTrue(preferLonger[1] > 0.8, "length-biased reward model prefers the wordy answer " + preferLonger[1]);
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
