package dev.rlhf4j.cli;

import dev.rlhf4j.feedback.importer.ItemImport;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code rlhf4j feedback import}: prompts (and their responses) into a project, which it may create. */
@Command(name = "import", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Add the prompts of a JSONL file to a project, as items to label. Each line is a prompt record "
                + "as `generate --prompts` reads it ({\"prompt\": text}, {\"prompt\": [messages]} or {\"messages\": "
                + "[...]}), optionally with \"responses\": [K texts] to label (else the app samples them from the "
                + "project's policy model) and an \"id\" (string or integer): an id the project already has is "
                + "skipped, so importing a file again adds only its new lines.",
                "With --create TASK_TYPE the project is made first when it does not exist."})
public final class FeedbackImportCommand implements Callable<Integer> {
    @CommandLine.Mixin
    StoreOptions storeOptions = new StoreOptions();

    @Option(names = "--project", required = true, paramLabel = "NAME", description = "The project's name.")
    String project;
    @Option(names = "--prompts", required = true, paramLabel = "FILE.jsonl", description = "The items to add.")
    Path prompts;

    @Option(names = "--create", paramLabel = "TASK_TYPE", description = "Create the project when it does not "
            + "exist, for comparison, ranking or demonstration.")
    String create;
    @Option(names = "--k", paramLabel = "K", description = "With --create: responses per item (comparison 2, "
            + "ranking 2..9, demonstration 0; default: 2, or 0 for demonstrations).")
    Integer k;
    @Option(names = "--overlap", defaultValue = "0.1", paramLabel = "F", description = "With --create: the share of "
            + "items labelled by several people, for agreement (default: ${DEFAULT-VALUE}).")
    double overlap;
    @Option(names = "--overlap-annotators", defaultValue = "2", paramLabel = "N", description = "With --create: "
            + "how many people label each overlapped item (default: ${DEFAULT-VALUE}).")
    int overlapAnnotators;
    @Option(names = "--guidelines", paramLabel = "FILE.md", description = "With --create: the guidelines shown to "
            + "annotators (Markdown).")
    Path guidelines;
    @Option(names = "--policy-model", paramLabel = "PATH", description = "With --create: the checkpoint the app "
            + "samples responses from.")
    String policyModel;
    @Option(names = "--reward-model", paramLabel = "PATH", description = "With --create: the reward model whose "
            + "agreement with the annotators `feedback stats` reports.")
    String rewardModel;
    @Option(names = "--temperature", defaultValue = "1.0", description = "With --create: sampling temperature "
            + "(default: ${DEFAULT-VALUE}).")
    double temperature;
    @Option(names = "--top-p", defaultValue = "0.95", description = "With --create: nucleus sampling's top-p "
            + "(default: ${DEFAULT-VALUE}).")
    double topP;
    @Option(names = "--max-new-tokens", defaultValue = "128", description = "With --create: longest sampled "
            + "response (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Checks.inputFile("--prompts", prompts);
        Checks.inputFile("--guidelines", guidelines);
        TaskType type = create == null ? null : taskType(create);
        ProjectSettings settings = type == null ? null : settings(type);
        List<ItemImport.Line> lines = ItemImport.lines(prompts);
        PrintWriter out = spec.commandLine().getOut();
        try (Database db = storeOptions.open()) {
            FeedbackStore store = new FeedbackStore(db);
            Project p = store.projectByName(project).orElse(null);
            if (p == null && settings != null) {
                // checked before the project is made, so that a file refused makes nothing
                ItemImport.checkResponses(lines, settings.responsesPerItem());
                p = store.createProject(settings, null);
                store.audit(null, "project.create", "project \"" + p.name() + "\" (" + type.wireName()
                        + ") from the command line");
                out.println("created project \"" + p.name() + "\" (" + type.wireName() + ", "
                        + p.settings().responsesPerItem() + " responses per item)");
            } else if (p == null) {
                p = FeedbackCommand.project(store, project);
            } else if (type != null && p.taskType() != type) {
                throw new UserError("--create " + create + ": project \"" + project + "\" exists and is a "
                        + p.taskType().wireName() + " project");
            }
            ItemImport.checkResponses(lines, p.settings().responsesPerItem());
            List<Item> added;
            try {
                added = store.addItems(p.id(), lines.stream().map(ItemImport.Line::item).toList());
            } catch (StoreConflict | IllegalArgumentException e) {
                throw new UserError(prompts + ": " + e.getMessage(), e);
            }
            int skipped = lines.size() - added.size();
            store.audit(null, "items.import", added.size() + " items into project \"" + p.name() + "\" from "
                    + prompts.toAbsolutePath() + " (" + skipped + " skipped)");
            int toSample = p.settings().responsesPerItem() > 0 ? store.itemsMissingResponses(p.id()).size() : 0;
            out.println("added " + added.size() + " items to project \"" + p.name() + "\" (" + skipped
                    + " skipped: their id was there already)");
            if (toSample > 0) {
                out.println(toSample + " items of the project have no responses yet: generate them from its policy "
                        + "model in the app (`rlhf4j serve`)");
            }
            out.flush();
        }
        return 0;
    }

    private static TaskType taskType(String s) {
        try {
            return TaskType.parse(s.toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new UserError("--create: " + e.getMessage());
        }
    }

    private ProjectSettings settings(TaskType type) throws IOException {
        int perItem = k != null ? k : type == TaskType.DEMONSTRATION ? 0 : 2;
        String text = guidelines == null ? "" : Files.readString(guidelines);
        try {
            return new ProjectSettings(project, type, text, perItem, overlap, overlapAnnotators,
                    new Sampling(temperature, topP, maxNewTokens), policyModel, rewardModel);
        } catch (IllegalArgumentException e) {
            // the settings' own message names the field in the API's words; say which option it came from
            throw new UserError("--create " + type.wireName() + ": " + e.getMessage()
                    + " (options --k, --overlap, --overlap-annotators, --temperature, --top-p, --max-new-tokens)");
        }
    }
}
