package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The admin's review of a project's labels: newest first, a page at a time, optionally one annotator's only or only
 * those flagged or with a note. Every field is plain text for the template to escape.
 *
 * @param rows        the labels of this page
 * @param pageNumber  1-based
 * @param total       the labels that pass the filters, on all pages
 * @param annotator   the annotator filter (null for everyone)
 * @param flagged     whether only flagged labels or labels with a note are listed
 * @param annotators  every user name, for the filter's choices
 * @param previousUrl the query of the previous page (null on the first)
 * @param nextUrl     the query of the next page (null on the last)
 */
public record LabelReview(List<Row> rows, int pageNumber, int total, String annotator, boolean flagged,
                          List<String> annotators, String previousUrl, String nextUrl) {
    /** Labels on one page. */
    static final int PER_PAGE = 50;
    /** Characters of a prompt or response shown before it is cut. */
    static final int EXCERPT = 120;

    /**
     * One label as listed. {@code verdict}, {@code chosen} (the chosen response's excerpt), {@code side} ("left" or
     * "right") and {@code strength} are set for a comparison; {@code ranked} (excerpts best first) for a ranking;
     * {@code demonstration} for a demonstration.
     */
    public record Row(long id, String annotator, long itemId, String prompt, String kind, String verdict,
                      String chosen, String side, String strength, List<String> ranked, String demonstration,
                      String flags, String note, String seconds, String time) {
    }

    /** Page {@code pageNumber} (1-based; past the last gives an empty page) of project {@code projectId}. */
    static LabelReview of(FeedbackStore store, long projectId, int pageNumber, String annotator, boolean flagged) {
        Map<Long, String> names = new HashMap<>();
        List<String> annotators = new ArrayList<>();
        Long annotatorId = null;
        for (User u : store.users()) {
            names.put(u.id(), u.name());
            annotators.add(u.name());
            if (u.name().equals(annotator)) {
                annotatorId = u.id();
            }
        }
        List<Label> chosen = new ArrayList<>();
        boolean unknownAnnotator = annotator != null && annotatorId == null;
        if (!unknownAnnotator) {
            for (Label l : store.labels(projectId).reversed()) {
                if ((annotatorId == null || l.userId() == annotatorId)
                        && (!flagged || !l.flags().isEmpty() || (l.note() != null && !l.note().isBlank()))) {
                    chosen.add(l);
                }
            }
        }
        int from = Math.min(chosen.size(), (pageNumber - 1) * PER_PAGE);
        List<Label> shown = chosen.subList(from, Math.min(chosen.size(), from + PER_PAGE));
        List<Row> rows = new ArrayList<>();
        if (!shown.isEmpty()) {
            Map<Long, Item> items = new HashMap<>();
            store.items(projectId).forEach(i -> items.put(i.id(), i));
            Map<Long, String> texts = new HashMap<>();
            store.responsesOfProject(projectId).values().forEach(rs -> rs.forEach(r -> texts.put(r.id(), r.text())));
            for (Label l : shown) {
                rows.add(row(l, names, items.get(l.itemId()), texts));
            }
        }
        String previous = pageNumber > 1 ? query(pageNumber - 1, annotator, flagged) : null;
        String next = from + PER_PAGE < chosen.size() ? query(pageNumber + 1, annotator, flagged) : null;
        return new LabelReview(rows, pageNumber, chosen.size(), annotator, flagged, annotators, previous, next);
    }

    private static Row row(Label l, Map<Long, String> names, Item item, Map<Long, String> texts) {
        String verdict = null;
        String chosen = null;
        String side = null;
        String strength = null;
        List<String> ranked = null;
        String demonstration = null;
        switch (l.kind()) {
            case COMPARISON -> {
                verdict = l.verdict().wireName();
                if (l.verdict() == Verdict.BETTER && l.chosenResponseId() != null) {
                    chosen = excerpt(texts.get(l.chosenResponseId()));
                    side = l.chosenResponseId().equals(l.leftResponseId()) ? "left" : "right";
                }
                strength = l.strength() == null ? null : switch (l.strength()) {
                    case 1 -> "slightly";
                    case 2 -> "clearly";
                    default -> "much";
                };
            }
            case RANKING -> ranked = l.ranking().stream().map(id -> excerpt(texts.get(id))).toList();
            case DEMONSTRATION -> demonstration = excerpt(l.demonstration());
        }
        return new Row(l.id(), names.getOrDefault(l.userId(), "#" + l.userId()), l.itemId(),
                item == null ? "" : excerpt(item.prompt()), l.kind().wireName(), verdict, chosen, side, strength,
                ranked, demonstration,
                l.flags().stream().sorted().map(Flag::wireName).collect(Collectors.joining(", ")),
                l.note() == null ? "" : l.note(), Page.seconds(l.durationMillis() / 1000.0), Page.time(l.createdAt()));
    }

    /** The first {@link #EXCERPT} characters, white space run together, with an ellipsis when cut. */
    static String excerpt(String text) {
        if (text == null) {
            return "";
        }
        String s = text.strip().replaceAll("\\s+", " ");
        if (s.length() <= EXCERPT) {
            return s;
        }
        int end = Character.isHighSurrogate(s.charAt(EXCERPT - 1)) ? EXCERPT - 1 : EXCERPT;
        return s.substring(0, end) + "…";
    }

    /** The query string of a page with the same filters (URL-encoded here; the template escapes it for HTML). */
    private static String query(int page, String annotator, boolean flagged) {
        StringBuilder q = new StringBuilder("?page=").append(page);
        if (annotator != null) {
            q.append("&annotator=").append(URLEncoder.encode(annotator, StandardCharsets.UTF_8));
        }
        if (flagged) {
            q.append("&flagged=true");
        }
        return q.toString();
    }
}
