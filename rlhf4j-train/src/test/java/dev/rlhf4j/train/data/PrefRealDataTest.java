package dev.rlhf4j.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.GZIPInputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real preference files of {@code ../shared/data/preference} (skipped where absent). */
class PrefRealDataTest {

    /** Each line of a gzipped JSON-lines file, parsed independently of the reader. */
    private static List<JsonNode> rawLines(Path file) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> rows = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(
                new GZIPInputStream(Files.newInputStream(file)), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                rows.add(json.readTree(line));
            }
        }
        return rows;
    }

    /**
     * Every row of an HH-RLHF split is one text pair whose prompt ends with the last shared "\n\nAssistant:" and
     * whose prompt + response is the row's transcript exactly; returns the lines (from 1) whose two sides are equal.
     */
    private static List<Integer> checkHh(String name, int rows) throws IOException {
        Path file = SharedData.require("preference/hh-rlhf/" + name);
        List<PreferenceRecord> records = PreferenceReader.read(file);
        List<JsonNode> raw = rawLines(file);
        assertEquals(rows, records.size(), name);
        assertEquals(rows, raw.size(), name);
        List<Integer> ties = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            PreferencePair p = assertInstanceOf(PreferenceRecord.Text.class, records.get(i)).pair();
            String where = name + ":" + (i + 1);
            assertTrue(p.prompt().startsWith("\n\nHuman: "), where);
            assertTrue(p.prompt().endsWith("\n\nAssistant:"), where);
            assertEquals(raw.get(i).get("chosen").textValue(), p.prompt() + p.chosen(), where);
            assertEquals(raw.get(i).get("rejected").textValue(), p.prompt() + p.rejected(), where);
            assertTrue(p.chosen().startsWith(" ") && p.rejected().startsWith(" "), where);
            assertEquals(0, p.margin());
            assertEquals(-1, p.group());
            if (p.chosen().equals(p.rejected())) {
                ties.add(i + 1);
            }
        }
        return ties;
    }

    /** Lengths below were measured with Python, which counts code points rather than UTF-16 units. */
    private static int codePoints(String s) {
        return s.codePointCount(0, s.length());
    }

    @Test
    void hhRlhfHelpfulBaseTestSplitReadsAsItsRows() throws IOException {
        // Lines 722 and 2169 hold the same transcript twice in the data itself.
        assertEquals(List.of(722, 2169), checkHh("helpful-base_test.jsonl.gz", 2354));
    }

    @Test
    void hhRlhfHarmlessBaseTestSplitReadsAsItsRows() throws IOException {
        assertEquals(List.of(), checkHh("harmless-base_test.jsonl.gz", 2312));
    }

    @Test
    void dpoEnDemoShareGptReadsAsChatPairs() throws IOException {
        List<PreferenceRecord> records = PreferenceReader.read(SharedData.require("preference/other/dpo_en_demo.json"));
        assertEquals(300, records.size());
        Map<String, Integer> promptRoles = new TreeMap<>();
        for (PreferenceRecord r : records) {
            ConversationPair p = assertInstanceOf(PreferenceRecord.Chat.class, r).pair();
            for (Message m : p.prompt()) {
                promptRoles.merge(m.role(), 1, Integer::sum);
            }
            assertEquals("user", p.prompt().getLast().role());
            assertEquals(1, p.chosen().size());
            assertEquals(1, p.rejected().size());
            assertEquals("assistant", p.chosen().getFirst().role());
            assertEquals("assistant", p.rejected().getFirst().role());
        }
        // The file's "from" values, counted with Python: human 563, gpt 263, system 80.
        assertEquals(Map.of("assistant", 263, "system", 80, "user", 563), promptRoles);

        ConversationPair first = ((PreferenceRecord.Chat) records.getFirst()).pair();
        assertEquals(List.of(new Message("user", "Hi! I'd like to create a new language game simulating the first "
                + "person perspective of a character named Angela.")), first.prompt());
        String chosen = first.chosen().getFirst().content(), rejected = first.rejected().getFirst().content();
        assertTrue(chosen.startsWith("That sounds like a fun and engaging idea! Here are some tips"), chosen);
        assertEquals(1688, codePoints(chosen));
        assertTrue(rejected.startsWith("Hello! I'd be happy to help you create a language game simul"), rejected);
        assertEquals(547, codePoints(rejected));
        ConversationPair second = ((PreferenceRecord.Chat) records.get(1)).pair();
        assertEquals(List.of("system", "user"), second.prompt().stream().map(Message::role).toList());
        assertTrue(second.prompt().getFirst().content().startsWith("You are a teacher. Given a task, you explain"));
    }

    @Test
    void stackExchangePairedReadsAsQuestionAnswerTextPairs() throws IOException {
        List<PreferenceRecord> records = PreferenceReader.read(
                SharedData.require("preference/other/stack_exchange_paired_tiny.json"));
        assertEquals(25, records.size());
        for (PreferenceRecord r : records) {
            PreferencePair p = assertInstanceOf(PreferenceRecord.Text.class, r).pair();
            assertTrue(p.prompt().startsWith("Question: ") && p.prompt().endsWith("\n\nAnswer: "), p.prompt());
        }
        PreferencePair first = ((PreferenceRecord.Text) records.getFirst()).pair();
        assertTrue(first.prompt().startsWith("Question: I'm writing a code using Java Swing to press the right butto"));
        assertEquals("Question: ".length() + 2394 + "\n\nAnswer: ".length(), codePoints(first.prompt()));
        assertTrue(first.chosen().startsWith("The code you are showing does exactly one thing: attach action listene"));
        assertEquals(303, codePoints(first.chosen()));
        assertTrue(first.rejected().startsWith("When you do this:\n\n```\nbutton1.addActionListener(new "
                + "ActionListener() "));
        assertEquals(999, codePoints(first.rejected()));
        assertTrue(((PreferenceRecord.Text) records.getLast()).pair().prompt()
                .startsWith("Question: I am using video.js (<http://www.videojs.com/>) to"));
    }
}
