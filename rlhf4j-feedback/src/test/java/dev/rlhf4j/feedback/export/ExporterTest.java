package dev.rlhf4j.feedback.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.train.data.ConversationPair;
import dev.rlhf4j.train.data.DataRecord;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.PreferencePair;
import dev.rlhf4j.train.data.PreferenceReader;
import dev.rlhf4j.train.data.PreferenceRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Exports from a real SQLite store, read back with the train module's own readers. */
class ExporterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<Message> CHAT = List.of(new Message("system", "Be brief."), new Message("user", "Hi?"));

    @TempDir
    Path tmp;
    private Database db;
    private FeedbackStore store;
    private User ann;
    private User bob;
    private int request;

    @BeforeEach
    void open() {
        db = Database.sqlite(tmp.resolve("data"));
        store = new FeedbackStore(db);
        ann = store.createUser("ann", "h", Role.ANNOTATOR);
        bob = store.createUser("bob", "h", Role.ANNOTATOR);
    }

    @AfterEach
    void close() {
        db.close();
    }

    /** A project where every item goes to two people. */
    private Project project(String name, TaskType type, int k) {
        return store.createProject(new ProjectSettings(name, type, "", k, 1.0, 2, Sampling.DEFAULTS, null, null),
                null);
    }

    private List<Response> responses(Item item) {
        return store.responses(item.id());
    }

    private void compare(User u, Item item, int left, int right, Verdict v, Integer chosen, Integer strength,
                         Set<Flag> flags, String note) {
        List<Response> rs = responses(item);
        store.submit(NewLabel.comparison("r" + request++, item.id(), u.id(), rs.get(left).id(), rs.get(right).id(), v,
                chosen == null ? null : rs.get(chosen).id(), strength, flags, note));
    }

    private void rank(User u, Item item, int... best) {
        List<Response> rs = responses(item);
        List<Long> ranking = java.util.Arrays.stream(best).mapToObj(i -> rs.get(i).id()).toList();
        store.submit(NewLabel.ranking("r" + request++, item.id(), u.id(), ranking, rs.stream().map(Response::id)
                .toList(), null, null));
    }

    @Test
    void comparisonsBecomePreferencePairsWithMarginsAndTiesGoAside() throws IOException {
        Project p = project("cmp", TaskType.COMPARISON, 2);
        List<Item> items = store.addItems(p.id(), List.of(new NewItem("Once upon a time", null, "ext-1",
                List.of(" a cat", " a dog")), new NewItem("system: Be brief.\n\nuser: Hi?", CHAT, null,
                List.of("Hello.", "Go away.")), NewItem.of("The end", " x", " y")));
        Item text = items.get(0);
        Item chat = items.get(1);
        // ann: second response (shown left) much better, flagged; bob: first response better, no strength
        compare(ann, text, 1, 0, Verdict.BETTER, 1, 3, Set.of(Flag.HARMFUL, Flag.OFF_TOPIC), "");
        compare(bob, text, 0, 1, Verdict.BETTER, 0, null, null, "");
        compare(ann, chat, 0, 1, Verdict.BETTER, 0, 1, null, "");
        compare(bob, chat, 1, 0, Verdict.TIE, null, null, null, "same");
        compare(ann, items.get(2), 0, 1, Verdict.BOTH_BAD, null, null, null, "both off");

        Path out = tmp.resolve("out/prefs.jsonl");
        Exporter.Summary s = Exporter.write(store, p.id(), out);
        assertEquals(new Exporter.Summary(out, tmp.resolve("out/prefs.set_aside.jsonl"), 3, 2), s);

        List<PreferenceRecord> read = PreferenceReader.read(out);
        assertEquals(3, read.size());
        assertEquals(new PreferencePair("Once upon a time", " a dog", " a cat", 1.0, -1),
                ((PreferenceRecord.Text) read.get(0)).pair());
        assertEquals(new PreferencePair("Once upon a time", " a cat", " a dog", 0.0, -1),
                ((PreferenceRecord.Text) read.get(1)).pair());
        ConversationPair c = ((PreferenceRecord.Chat) read.get(2)).pair();
        assertEquals(CHAT, c.prompt());
        assertEquals(List.of(new Message("assistant", "Hello.")), c.chosen());
        assertEquals(List.of(new Message("assistant", "Go away.")), c.rejected());
        assertEquals(1 / 3.0, c.margin(), 1e-12);

        List<JsonNode> lines = jsonLines(out);
        assertEquals("ann", lines.get(0).get("annotator").asText());
        assertEquals(text.id(), lines.get(0).get("item_id").asLong());
        assertEquals("ext-1", lines.get(0).get("external_id").asText());
        assertEquals("[\"harmful\",\"off_topic\"]", lines.get(0).get("flags").toString());
        assertFalse(lines.get(1).has("margin") || lines.get(1).has("flags"));
        assertEquals(store.labels(p.id()).get(1).id(), lines.get(1).get("label_id").asLong());

        List<JsonNode> aside = jsonLines(s.setAside());
        assertEquals(2, aside.size());
        assertEquals("tie", aside.get(0).get("verdict").asText());
        assertEquals("bob", aside.get(0).get("annotator").asText());
        assertEquals("same", aside.get(0).get("note").asText());
        assertEquals("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi?\"}]",
                aside.get(0).get("prompt").toString());
        assertEquals("[\"Hello.\",\"Go away.\"]", aside.get(0).get("responses").toString());
        assertEquals("both_bad", aside.get(1).get("verdict").asText());
        assertEquals("The end", aside.get(1).get("prompt").asText());

        // the streams hold the same lines as the files
        ByteArrayOutputStream main = new ByteArrayOutputStream();
        assertEquals(3, Exporter.writeRecords(store, p.id(), main));
        assertEquals(Files.readString(out), main.toString(StandardCharsets.UTF_8));
        ByteArrayOutputStream side = new ByteArrayOutputStream();
        assertEquals(2, Exporter.writeSetAside(store, p.id(), side));
        assertEquals(Files.readString(s.setAside()), side.toString(StandardCharsets.UTF_8));
        try (var files = Files.list(tmp.resolve("out"))) {
            assertEquals(2, files.count(), "no temporary file is left behind");
        }
    }

    @Test
    void rankingsAreWrittenAsTheReaderExpandsThem() throws IOException {
        Project p = project("rank", TaskType.RANKING, 3);
        List<Item> items = store.addItems(p.id(), List.of(NewItem.of("Rank these", "x0", "x1", "x2"),
                new NewItem("user: Q", List.of(new Message("user", "Q")), null, List.of("c0", "c1", "c2"))));
        rank(ann, items.get(0), 2, 0, 1);
        rank(bob, items.get(0), 0, 1, 2);
        rank(ann, items.get(1), 1, 2, 0);
        Path out = tmp.resolve("rank.jsonl");
        Exporter.Summary s = Exporter.write(store, p.id(), out);
        assertEquals(2 + 3, s.records(), "two text rankings, one chat ranking as its 3 pairs");
        assertEquals(0, s.setAsideRecords());
        assertEquals("", Files.readString(s.setAside()));
        JsonNode first = jsonLines(out).get(0);
        assertEquals("[\"x0\",\"x1\",\"x2\"]", first.get("responses").toString());
        assertEquals("[2,0,1]", first.get("ranking").toString());

        List<PreferenceRecord> read = PreferenceReader.read(out);
        assertEquals(3 + 3 + 3, read.size());
        // ann's ranking x2 > x0 > x1 as the reader expands it: (x2,x0) (x2,x1) (x0,x1), group 0
        assertEquals(new PreferencePair("Rank these", "x2", "x0", 0, 0), ((PreferenceRecord.Text) read.get(0)).pair());
        assertEquals(new PreferencePair("Rank these", "x2", "x1", 0, 0), ((PreferenceRecord.Text) read.get(1)).pair());
        assertEquals(new PreferencePair("Rank these", "x0", "x1", 0, 0), ((PreferenceRecord.Text) read.get(2)).pair());
        assertEquals(1, read.get(3).group(), "bob's ranking is its own group");
        // the chat ranking c1 > c2 > c0 as conversational pairs, in ranking order
        String[][] expected = {{"c1", "c2"}, {"c1", "c0"}, {"c2", "c0"}};
        for (int i = 0; i < 3; i++) {
            ConversationPair c = ((PreferenceRecord.Chat) read.get(6 + i)).pair();
            assertEquals(List.of(new Message("user", "Q")), c.prompt());
            assertEquals(expected[i][0], c.chosen().getFirst().content());
            assertEquals(expected[i][1], c.rejected().getFirst().content());
        }
    }

    @Test
    void demonstrationsAreSftRecords() throws IOException {
        Project p = project("demo", TaskType.DEMONSTRATION, 0);
        List<Item> items = store.addItems(p.id(), List.of(NewItem.of("Write a story."),
                new NewItem("user: Hi", List.of(new Message("user", "Hi")), null, List.of())));
        store.submit(NewLabel.demonstration("d1", items.get(0).id(), ann.id(), " Once there was a fox.", null, ""));
        store.submit(NewLabel.demonstration("d2", items.get(0).id(), bob.id(), " A cat sat.", null, ""));
        store.submit(NewLabel.demonstration("d3", items.get(1).id(), ann.id(), "Hello!", Set.of(Flag.UNTRUTHFUL),
                ""));
        Path out = tmp.resolve("sft.jsonl");
        assertEquals(3, Exporter.write(store, p.id(), out).records());
        List<DataRecord> read = DatasetReader.read(out);
        assertEquals(List.of(new DataRecord.PromptCompletion("Write a story.", " Once there was a fox."),
                new DataRecord.PromptCompletion("Write a story.", " A cat sat."),
                new DataRecord.Conversation(List.of(new Message("user", "Hi"), new Message("assistant", "Hello!")))),
                read);
        assertTrue(jsonLines(out).get(2).get("flags").toString().contains("untruthful"));
    }

    @Test
    void sideFileNameSitsBesideTheExport() {
        assertEquals(Path.of("/x/prefs.set_aside.jsonl"), Exporter.sideFile(Path.of("/x/prefs.jsonl")));
        assertEquals(Path.of("/x/prefs.set_aside.jsonl"), Exporter.sideFile(Path.of("/x/prefs")));
    }

    private static List<JsonNode> jsonLines(Path f) throws IOException {
        List<JsonNode> out = new java.util.ArrayList<>();
        for (String line : Files.readAllLines(f)) {
            out.add(JSON.readTree(line));
        }
        return out;
    }
}
