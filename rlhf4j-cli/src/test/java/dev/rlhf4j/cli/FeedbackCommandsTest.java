package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.store.AuditEntry;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** rlhf4j feedback import, export and stats on a SQLite store, and the exports trained on by reward train and sft. */
class FeedbackCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    private StringWriter out = new StringWriter();
    private StringWriter err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /** Runs a command that must fail with one line on stderr, and returns that line. */
    private String fails(String... args) {
        assertEquals(1, run(args), out + "\n" + err);
        List<String> lines = err.toString().strip().lines().toList();
        assertEquals(1, lines.size(), err.toString());
        return lines.getFirst();
    }

    private Path data() {
        return tmp.resolve("store");
    }

    /** A prompt file of {@code n} comparison items with two responses each and ids. */
    private Path comparisons(int n) throws IOException {
        StringBuilder sb = new StringBuilder();
        String[] names = {"Tom", "Lily", "Ben", "Sue", "Max", "Mia", "Sam", "Zoe"};
        for (int i = 0; i < n; i++) {
            String who = names[i % names.length];
            sb.append(JSON.writeValueAsString(java.util.Map.of("id", i, "prompt", who + " had a ball.",
                    "responses", List.of(" " + who + " was happy and played.", " It was sad.")))).append('\n');
        }
        return Files.writeString(tmp.resolve("items.jsonl"), sb.toString());
    }

    @Test
    void importCreatesTheProjectSkipsKnownIdsAndIsAudited() throws IOException {
        Path items = comparisons(3);
        assertEquals(0, run("feedback", "import", "--data-dir", data().toString(), "--project", "cmp", "--prompts",
                items.toString(), "--create", "comparison", "--overlap", "0.5"), err.toString());
        assertTrue(out.toString().contains("created project \"cmp\" (comparison, 2 responses per item)"),
                out.toString());
        assertTrue(out.toString().contains("added 3 items to project \"cmp\" (0 skipped"), out.toString());
        Files.writeString(items, "{\"id\": 3, \"prompt\": \"New one.\", \"responses\": [\"a\", \"b\"]}\n",
                java.nio.file.StandardOpenOption.APPEND);
        assertEquals(0, run("feedback", "import", "--data-dir", data().toString(), "--project", "cmp", "--prompts",
                items.toString()), err.toString());
        assertTrue(out.toString().contains("added 1 items to project \"cmp\" (3 skipped"), out.toString());
        try (Database db = Database.sqlite(data())) {
            FeedbackStore s = new FeedbackStore(db);
            Project p = s.projectByName("cmp").orElseThrow();
            assertEquals(0.5, p.settings().overlap());
            assertEquals(4, s.items(p.id()).size());
            List<AuditEntry> audit = s.auditLog(10);
            assertEquals(List.of("items.import", "items.import", "project.create"),
                    audit.stream().map(AuditEntry::action).toList());
            assertTrue(audit.stream().allMatch(a -> a.userId() == null), "the command line acts as no user");
        }
    }

    @Test
    void importRefusesAMissingProjectAndAMalformedLine() throws IOException {
        Path items = comparisons(2);
        String missing = fails("feedback", "import", "--data-dir", data().toString(), "--project", "nope",
                "--prompts", items.toString());
        assertTrue(missing.startsWith("rlhf4j: --project nope: no such project in SQLite "), missing);
        Path bad = Files.writeString(tmp.resolve("bad.jsonl"), "{\"prompt\": \"ok\"}\n{\"prompt\": \"x\",}\n");
        String e = fails("feedback", "import", "--data-dir", data().toString(), "--project", "p", "--prompts",
                bad.toString(), "--create", "demonstration");
        assertTrue(e.startsWith("rlhf4j: " + bad + ":2: not valid JSON ("), e);
        Path wrongK = Files.writeString(tmp.resolve("k.jsonl"), "{\"prompt\": \"a\", \"responses\": [\"1\"]}\n");
        assertEquals("rlhf4j: " + wrongK + ":1: \"responses\" holds 1; the project takes 2 per item (or none, to "
                + "have them sampled)", fails("feedback", "import", "--data-dir", data().toString(), "--project", "p",
                "--prompts", wrongK.toString(), "--create", "ranking"));
        assertEquals("rlhf4j: --create: unknown task type \"vote\" (expected comparison, ranking or demonstration)",
                fails("feedback", "import", "--data-dir", data().toString(), "--project", "p", "--prompts",
                        items.toString(), "--create", "vote"));
        try (Database db = Database.sqlite(data())) {
            assertTrue(new FeedbackStore(db).projects().isEmpty(), "nothing was created by the failed imports");
        }
    }

    /** Labels every item of a comparison project: ann prefers the first response, with a strength, bob ties one. */
    private static void label(FeedbackStore s, Project p) {
        User ann = s.createUser("ann", "h", Role.ANNOTATOR);
        User bob = s.createUser("bob", "h", Role.ANNOTATOR);
        int n = 0;
        for (Item item : s.items(p.id())) {
            List<Response> rs = s.responses(item.id());
            long a = rs.get(0).id();
            long b = rs.get(1).id();
            s.submit(NewLabel.comparison("a" + n, item.id(), ann.id(), b, a, Verdict.BETTER, a, 1 + n % 3, null, ""));
            if (n == 0) {
                s.submit(NewLabel.comparison("b" + n, item.id(), bob.id(), a, b, Verdict.TIE, null, null, null, ""));
            }
            n++;
        }
    }

    @Test
    void exportWritesWhatRewardTrainReads() throws IOException {
        Path items = comparisons(8);
        assertEquals(0, run("feedback", "import", "--data-dir", data().toString(), "--project", "cmp", "--prompts",
                items.toString(), "--create", "comparison", "--overlap", "1"), err.toString());
        try (Database db = Database.sqlite(data())) {
            FeedbackStore s = new FeedbackStore(db);
            label(s, s.projectByName("cmp").orElseThrow());
        }
        Path export = tmp.resolve("export/prefs.jsonl");
        assertEquals(0, run("feedback", "export", "--data-dir", data().toString(), "--project", "cmp", "--out",
                export.toString()), err.toString());
        assertTrue(out.toString().contains("wrote 8 comparison records of project \"cmp\" to " + export),
                out.toString());
        assertTrue(out.toString().contains("set aside 1 ties and both-bad verdicts in "
                + tmp.resolve("export/prefs.set_aside.jsonl")), out.toString());
        JsonNode first = JSON.readTree(Files.readAllLines(export).getFirst());
        assertEquals("Tom had a ball.", first.get("prompt").asText());
        assertEquals(" Tom was happy and played.", first.get("chosen").asText());
        assertEquals(1 / 3.0, first.get("margin").asDouble(), 1e-12);

        TinyRun tiny = TinyRun.create(tmp.resolve("tiny"));
        Path rm = tmp.resolve("rm");
        assertEquals(0, run("reward", "train", "--model", tiny.modelYaml.toString(), "--tokenizer",
                tiny.tokenizer.toString(), "--data", export.toString(), "--out", rm.toString(), "--max-steps", "2",
                "--per-device-train-batch-size", "4", "--max-length", "64", "--logging-steps", "1"), err.toString());
        assertEquals(2, Files.readAllLines(rm.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(rm.resolve("model.safetensors")));

        // stats with the reward model just trained set on the project
        try (Database db = Database.sqlite(data())) {
            FeedbackStore s = new FeedbackStore(db);
            Project p = s.projectByName("cmp").orElseThrow();
            s.updateProject(p.id(), new dev.rlhf4j.feedback.store.ProjectSettings(p.name(), p.taskType(), "", 2, 1.0,
                    2, p.settings().sampling(), null, rm.toString()));
        }
        assertEquals(0, run("feedback", "stats", "--data-dir", data().toString(), "--project", "cmp", "--json"),
                err.toString());
        JsonNode stats = JSON.readTree(out.toString());
        assertEquals(9, stats.get("labels").asInt());
        assertEquals(8, stats.get("reward_model_compared").asInt());
        double agreement = stats.get("reward_model_agreement").asDouble();
        assertTrue(agreement >= 0 && agreement <= 1, stats.toString());
        assertEquals(0.0, stats.get("left_share").asDouble(), 1e-12, "ann always chose the response shown right");
    }

    @Test
    void exportedDemonstrationsTrainSft() throws IOException {
        TinyRun tiny = TinyRun.create(tmp.resolve("tiny"));
        assertEquals(0, run("feedback", "import", "--data-dir", data().toString(), "--project", "demo", "--prompts",
                tiny.prompts.toString(), "--create", "demonstration"), err.toString());
        try (Database db = Database.sqlite(data())) {
            FeedbackStore s = new FeedbackStore(db);
            User ann = s.createUser("ann", "h", Role.ANNOTATOR);
            Project p = s.projectByName("demo").orElseThrow();
            assertEquals(TaskType.DEMONSTRATION, p.taskType());
            int n = 0;
            for (Item item : s.items(p.id()).subList(0, 6)) {
                s.submit(NewLabel.demonstration("d" + n++, item.id(), ann.id(), " The end was happy.", null, ""));
            }
        }
        Path export = tmp.resolve("sft.jsonl");
        assertEquals(0, run("feedback", "export", "--data-dir", data().toString(), "--project", "demo", "--out",
                export.toString()), err.toString());
        assertTrue(out.toString().contains("wrote 6 demonstration records"), out.toString());
        assertEquals(0, run("sft", "--model", tiny.modelYaml.toString(), "--tokenizer", tiny.tokenizer.toString(),
                "--data", export.toString(), "--out", tmp.resolve("sft2").toString(), "--max-steps", "2",
                "--per-device-train-batch-size", "2", "--max-length", "96", "--logging-steps", "1"), err.toString());
        assertEquals(2, Files.readAllLines(tmp.resolve("sft2/metrics.jsonl")).size());
    }

    @Test
    void exportAndStatsRefuseAMissingProject() {
        assertTrue(fails("feedback", "export", "--data-dir", data().toString(), "--project", "nope", "--out",
                tmp.resolve("x.jsonl").toString()).startsWith("rlhf4j: --project nope: no such project in SQLite "));
        assertTrue(fails("feedback", "stats", "--data-dir", data().toString(), "--project", "nope")
                .startsWith("rlhf4j: --project nope: no such project in SQLite "));
        assertTrue(fails("feedback", "export", "--data-dir", data().toString(), "--project", "nope", "--out",
                tmp.toString()).startsWith("rlhf4j: --out " + tmp + ": is a directory"));
    }

    @Test
    void statsPrintsTables() throws IOException {
        Path items = comparisons(4);
        assertEquals(0, run("feedback", "import", "--data-dir", data().toString(), "--project", "cmp", "--prompts",
                items.toString(), "--create", "comparison", "--overlap", "1"), err.toString());
        try (Database db = Database.sqlite(data())) {
            FeedbackStore s = new FeedbackStore(db);
            label(s, s.projectByName("cmp").orElseThrow());
        }
        assertEquals(0, run("feedback", "stats", "--data-dir", data().toString(), "--project", "cmp"), err.toString());
        String text = out.toString();
        assertTrue(text.startsWith("project \"cmp\" (comparison): 4 items, 4 ready, 5 labels"), text);
        // item 1: ann "first better" vs bob "tie": 0% agreement, left share 0 (ann always chose the right side)
        assertTrue(text.contains("agreement 0.0%, Cohen's kappa 0.000"), text);
        assertTrue(text.contains("left share 0.0%"), text);
        assertTrue(text.contains("reward model agreement: -"), text);
        assertTrue(text.lines().anyMatch(l -> l.startsWith("ann ") && l.contains(" 4 ")), text);
        assertTrue(text.contains("ann / bob"), text);
    }
}
