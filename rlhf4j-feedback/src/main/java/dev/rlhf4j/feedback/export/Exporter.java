package dev.rlhf4j.feedback.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.train.AtomicFiles;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a project's labels in TRL's formats: {@code {"prompt","chosen","rejected"[,"margin"]}} for comparisons,
 * {@code {"prompt","responses","ranking"}} for rankings, {@code {"prompt","completion"}} or {@code {"messages"}}
 * for demonstrations; ties and both-bad verdicts go to a side file, never silently dropped.
 *
 * <p>Each record is exactly what {@code rlhf4j reward train} (PreferenceReader) and {@code rlhf4j sft}
 * (DatasetReader) read:
 * <ul>
 *   <li>a decisive comparison is one record per label (two people labelling an item give two records). A text
 *       item gives strings; a conversation gives TRL's conversational form, {@code "prompt"} the message list and
 *       {@code "chosen"}/{@code "rejected"} each {@code [{"role": "assistant", "content": ...}]}. {@code "margin"}
 *       is written when a strength was given: slightly 1/3, clearly 2/3, much better 1 (Llama 2's discrete
 *       margins, Touvron et al. 2023 table 28, scaled to [0, 1]);</li>
 *   <li>a ranking of a text item is {@code "responses"} (in stored order) and {@code "ranking"}, their indices best
 *       first, which the reader expands to the C(K,2) pairs of one group. The reader takes rankings of a text prompt
 *       only, so a ranking of a conversation is written as its C(K,2) conversational pairs (better, worse), in
 *       ranking order;</li>
 *   <li>a demonstration is {@code {"prompt","completion"}} for a text item, {@code {"messages": [prompt messages...,
 *       {"role": "assistant", ...}]}} for a conversation.</li>
 * </ul>
 * Every record also carries {@code "annotator"}, {@code "item_id"}, {@code "label_id"}, {@code "external_id"} (when
 * the item has one) and {@code "flags"} (when any); the readers ignore fields they do not know.
 *
 * <p>The side file holds the comparisons that carry no preference (tie, both bad) as {@code {"prompt",
 * "responses", "verdict", "annotator", "item_id", "label_id", "note"}}, so that they can be reviewed or used
 * otherwise (both bad: items whose responses should be sampled again).
 */
public final class Exporter {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What an export wrote. */
    public record Summary(Path out, Path setAside, int records, int setAsideRecords) {
    }

    private Exporter() {
    }

    /** The margin of a comparison's strength (1 slightly, 2 clearly, 3 much better); null when none was given. */
    public static Double margin(Integer strength) {
        return strength == null ? null : strength / 3.0;
    }

    /** Writes {@code out} and its side file {@link #sideFile(Path)}, each atomically. */
    public static Summary write(FeedbackStore store, long projectId, Path out) throws IOException {
        Labelled data = Labelled.of(store, projectId);
        Path side = sideFile(out);
        int[] records = new int[1];
        int[] setAside = new int[1];
        AtomicFiles.write(out, s -> records[0] = data.writeRecords(s));
        AtomicFiles.write(side, s -> setAside[0] = data.writeSetAside(s));
        return new Summary(out, side, records[0], setAside[0]);
    }

    /** Streams the main file's JSON lines (for the web download); returns the records written. */
    public static int writeRecords(FeedbackStore store, long projectId, OutputStream out) throws IOException {
        return Labelled.of(store, projectId).writeRecords(out);
    }

    /** Streams the side file's JSON lines (ties and both-bad verdicts); returns the records written. */
    public static int writeSetAside(FeedbackStore store, long projectId, OutputStream out) throws IOException {
        return Labelled.of(store, projectId).writeSetAside(out);
    }

    /** {@code out}'s side file: {@code NAME.set_aside.jsonl} beside {@code NAME.jsonl}. */
    public static Path sideFile(Path out) {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".jsonl") ? name.substring(0, name.length() - ".jsonl".length()) : name;
        return out.resolveSibling(stem + ".set_aside.jsonl");
    }

    /** A project's labels with what they refer to, read once. */
    private record Labelled(List<Label> labels, Map<Long, Item> items, Map<Long, List<Response>> responses,
                            Map<Long, String> names) {
        static Labelled of(FeedbackStore store, long projectId) {
            if (store.project(projectId).isEmpty()) {
                throw new StoreConflict("no project " + projectId);
            }
            Map<Long, Item> items = new HashMap<>();
            store.items(projectId).forEach(i -> items.put(i.id(), i));
            Map<Long, String> names = new HashMap<>();
            for (User u : store.users()) {
                names.put(u.id(), u.name());
            }
            return new Labelled(store.labels(projectId), items, store.responsesOfProject(projectId), names);
        }

        int writeRecords(OutputStream os) throws IOException {
            Writer w = writer(os);
            int n = 0;
            for (Label l : labels) {
                for (Map<String, Object> r : records(l)) {
                    line(w, r);
                    n++;
                }
            }
            w.flush();
            return n;
        }

        int writeSetAside(OutputStream os) throws IOException {
            Writer w = writer(os);
            int n = 0;
            for (Label l : labels) {
                if (setAside(l)) {
                    Item item = items.get(l.itemId());
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("prompt", prompt(item));
                    r.put("responses", responses.getOrDefault(item.id(), List.of()).stream().map(Response::text)
                            .toList());
                    r.put("verdict", l.verdict().wireName());
                    provenance(r, l, item);
                    r.put("note", l.note());
                    line(w, r);
                    n++;
                }
            }
            w.flush();
            return n;
        }

        private static boolean setAside(Label l) {
            return l.verdict() == Verdict.TIE || l.verdict() == Verdict.BOTH_BAD;
        }

        /** The main file's records of one label: none (set aside), one, or a chat ranking's pairs. */
        private List<Map<String, Object>> records(Label l) {
            Item item = items.get(l.itemId());
            List<Response> rs = responses.getOrDefault(item.id(), List.of());
            List<Map<String, Object>> out = new ArrayList<>();
            switch (l.kind()) {
                case COMPARISON -> {
                    if (!setAside(l)) {
                        long rejected = l.chosenResponseId().equals(l.leftResponseId()) ? l.rightResponseId()
                                : l.leftResponseId();
                        out.add(pair(item, l, text(rs, l.chosenResponseId()), text(rs, rejected),
                                margin(l.strength())));
                    }
                }
                case RANKING -> {
                    if (item.isChat()) {
                        for (int better = 0; better < l.ranking().size(); better++) {
                            for (int worse = better + 1; worse < l.ranking().size(); worse++) {
                                out.add(pair(item, l, text(rs, l.ranking().get(better)),
                                        text(rs, l.ranking().get(worse)), null));
                            }
                        }
                    } else {
                        Map<String, Object> r = new LinkedHashMap<>();
                        r.put("prompt", item.prompt());
                        r.put("responses", rs.stream().map(Response::text).toList());
                        List<Integer> ranking = new ArrayList<>();
                        for (long id : l.ranking()) {
                            ranking.add(position(rs, id));
                        }
                        r.put("ranking", ranking);
                        provenance(r, l, item);
                        out.add(r);
                    }
                }
                case DEMONSTRATION -> {
                    Map<String, Object> r = new LinkedHashMap<>();
                    if (item.isChat()) {
                        List<ChatTemplate.Message> messages = new ArrayList<>(item.messages());
                        messages.add(new ChatTemplate.Message("assistant", l.demonstration()));
                        r.put("messages", messages(messages));
                    } else {
                        r.put("prompt", item.prompt());
                        r.put("completion", l.demonstration());
                    }
                    provenance(r, l, item);
                    out.add(r);
                }
            }
            return out;
        }

        private Map<String, Object> pair(Item item, Label l, String chosen, String rejected, Double margin) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("prompt", prompt(item));
            if (item.isChat()) {
                r.put("chosen", messages(List.of(new ChatTemplate.Message("assistant", chosen))));
                r.put("rejected", messages(List.of(new ChatTemplate.Message("assistant", rejected))));
            } else {
                r.put("chosen", chosen);
                r.put("rejected", rejected);
            }
            if (margin != null) {
                r.put("margin", margin);
            }
            provenance(r, l, item);
            return r;
        }

        private void provenance(Map<String, Object> r, Label l, Item item) {
            r.put("annotator", names.get(l.userId()));
            r.put("item_id", item.id());
            r.put("label_id", l.id());
            if (item.externalId() != null) {
                r.put("external_id", item.externalId());
            }
            if (!l.flags().isEmpty()) {
                r.put("flags", l.flags().stream().sorted().map(Flag::wireName).toList());
            }
        }

        private static Object prompt(Item item) {
            return item.isChat() ? messages(item.messages()) : item.prompt();
        }

        private static List<Map<String, String>> messages(List<ChatTemplate.Message> messages) {
            List<Map<String, String>> out = new ArrayList<>(messages.size());
            for (ChatTemplate.Message m : messages) {
                Map<String, String> o = new LinkedHashMap<>();
                o.put("role", m.role());
                o.put("content", m.content());
                out.add(o);
            }
            return out;
        }

        private static String text(List<Response> rs, long id) {
            return rs.get(position(rs, id)).text();
        }

        private static int position(List<Response> rs, long id) {
            for (int i = 0; i < rs.size(); i++) {
                if (rs.get(i).id() == id) {
                    return i;
                }
            }
            throw new IllegalStateException("response " + id + " is not one of its item's");
        }

        private static Writer writer(OutputStream os) {
            return new BufferedWriter(new OutputStreamWriter(os, StandardCharsets.UTF_8));
        }

        private static void line(Writer w, Map<String, Object> record) throws IOException {
            w.write(JSON.writeValueAsString(record));
            w.write('\n');
        }
    }
}
