package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The demo's claims end to end (about 7 minutes each on 2 cores; {@code ./mvnw verify -Plong}): RLHF beats SFT on the
 * gold reward of held-out prompts, and with a length-biased reward model and no KL penalty PPO hacks the reward
 * model: its score rises while the gold reward falls.
 */
@Tag("long")
class RlhfDemoLongTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode demo(Path out, String... extra) throws Exception {
        StringWriter err = new StringWriter();
        String[] args = new String[3 + extra.length];
        args[0] = "demo";
        args[1] = "--out";
        args[2] = out.toString();
        System.arraycopy(extra, 0, args, 3, extra.length);
        int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args);
        assertEquals(0, code, err.toString());
        return JSON.readTree(out.resolve("summary.json").toFile());
    }

    private static double mean(JsonNode s, String policy, String what) {
        return s.get("policies").get(policy).get(what).get("mean").asDouble();
    }

    @Test
    void rlhfBeatsSftOnTheGoldReward(@TempDir Path tmp) throws Exception {
        JsonNode s = demo(tmp.resolve("demo"));
        double sft = mean(s, "sft", "gold"), rlhf = mean(s, "rlhf", "gold"), base = mean(s, "base", "gold");
        assertTrue(sft > base + 0.5, "SFT " + sft + " vs base " + base);
        assertTrue(rlhf > sft + 0.15, "RLHF " + rlhf + " vs SFT " + sft);
        assertTrue(s.get("win_rate_rlhf_vs_sft").asDouble() > 0.6, s.get("win_rate_rlhf_vs_sft").toString());
        double kl = mean(s, "rlhf", "kl_to_sft");
        assertTrue(kl > 0.1 && kl < 10, "KL to SFT " + kl);
        assertTrue(s.get("total_seconds").asDouble() > 0);
    }

    @Test
    void withoutKlPenaltyALengthBiasedRewardModelIsHacked(@TempDir Path tmp) throws Exception {
        JsonNode s = demo(tmp.resolve("hack"), "--length-bias", "0.1", "--kl-coef", "0");
        double rmSft = mean(s, "sft", "reward_model"), rmRlhf = mean(s, "rlhf", "reward_model");
        double goldSft = mean(s, "sft", "gold"), goldRlhf = mean(s, "rlhf", "gold");
        assertTrue(rmRlhf > rmSft + 0.3, "reward-model score " + rmSft + " -> " + rmRlhf);
        assertTrue(goldRlhf < goldSft, "gold reward " + goldSft + " -> " + goldRlhf);
        assertTrue(s.get("policies").get("rlhf").get("response_tokens").asDouble()
                > s.get("policies").get("sft").get("response_tokens").asDouble(), "longer answers");
    }
}
