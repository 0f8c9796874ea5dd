package dev.rlhf4j.train.online;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Best-of-n assembled from paths, as {@code rlhf4j best-of-n} runs it: the policy, the prompts and the reward are
 * read, {@link BestOfN#select} picks, and {@link #write} writes one record per prompt that {@code rlhf4j sft --data}
 * reads: {@code {"prompt", "completion", "score", "scores"}} (a conversation prompt is written as its messages and
 * the completion as the assistant's message, TRL's conversational prompt-completion format).
 *
 * @param result  the choices
 * @param records the prompt records as the prompts file holds them (for writing conversations back as messages)
 * @param reward  what scored them, in words
 */
public record BestOfNRun(BestOfN.Result result, List<PromptReader.Record> records, String reward) {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What best-of-n samples and how. */
    public record Settings(int n, int maxNewTokens, float temperature, long seed, int batchSize)
            implements Serializable {
        public Settings {
            if (n < 1) {
                throw new UserError("n must be at least 1, got " + n);
            }
            if (maxNewTokens < 1) {
                throw new UserError("max_new_tokens must be at least 1, got " + maxNewTokens);
            }
            if (!(temperature > 0) || Float.isInfinite(temperature)) {
                throw new UserError("temperature must be a positive number, got " + temperature);
            }
            if (batchSize < 1) {
                throw new UserError("batch_size must be at least 1, got " + batchSize);
            }
        }
    }

    /** Reads the policy at {@code policy} and the prompts, opens the reward, and selects. */
    public static BestOfNRun fromPaths(Path policy, Path prompts, RewardSource reward, Settings s,
                                       PrintWriter console) throws IOException {
        Pretrained pm = Pretrained.open(policy, null);
        Tokenizer tok = pm.requireTokenizer();
        if (!pm.model().heads().lm()) {
            throw new UserError(policy + ": the policy must be a language model (it has no LM head)");
        }
        ChatTemplate chat = pm.chatTemplate();
        List<Prompt> ps = PromptReader.read(prompts, chat);
        List<PromptReader.Record> records = PromptReader.records(prompts);
        RewardFunction rf = reward.open(tok, ps, s.batchSize(), console);
        pm.model().freeze();
        BestOfN.Result r = BestOfN.select(pm.model(), tok, rf, ps, s.n(), s.maxNewTokens(), s.temperature(),
                s.seed(), pm.eosIds(), s.batchSize());
        return new BestOfNRun(r, records, rf.describe());
    }

    /**
     * The record written for one prompt: {@code {"prompt", "completion", "score", "scores"}}, a conversation prompt as
     * its messages and the completion as the assistant's message.
     */
    public static ObjectNode json(PromptReader.Record rec, String response, double score, double[] scores) {
        ObjectNode o = JSON.createObjectNode();
        if (rec.isChat()) {
            ArrayNode msgs = o.putArray("prompt");
            for (ChatTemplate.Message m : rec.messages()) {
                msgs.addObject().put("role", m.role()).put("content", m.content());
            }
            o.putArray("completion").addObject().put("role", "assistant").put("content", response);
        } else {
            o.put("prompt", rec.text());
            o.put("completion", response);
        }
        o.put("score", score);
        ArrayNode all = o.putArray("scores");
        for (double v : scores) {
            all.add(v);
        }
        return o;
    }

    /** Writes the chosen responses to {@code out} (JSON Lines, atomically: a temporary file moved into place). */
    public void write(Path out) throws IOException {
        Path parent = out.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path tmp = parent.resolve("." + out.getFileName() + ".tmp");
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            for (int i = 0; i < result.choices().size(); i++) {
                BestOfN.Choice c = result.choices().get(i);
                ObjectNode o = json(records.get(i), c.chosen().response(), c.score(), c.scores());
                w.write(JSON.writeValueAsString(o));
                w.newLine();
            }
        }
        Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
