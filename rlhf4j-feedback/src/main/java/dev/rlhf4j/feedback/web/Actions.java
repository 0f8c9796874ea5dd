package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.export.Exporter;
import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.GenerationJob;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What pages and the API both do, in one place each: the admin actions (each written to the audit log) and the
 * random order responses are shown in.
 */
final class Actions {
    /** How long an invitation link works. */
    static final long INVITATION_MILLIS = 7 * 24 * 3600 * 1000L;

    private static final Random SHOW_ORDER = new SecureRandom();

    private final FeedbackStore store;
    private final ResponseSampler sampler;
    private final Supplier<String> publicUrl;

    /** {@code publicUrl} gives the address invitation links start with (known once the server listens). */
    Actions(FeedbackStore store, ResponseSampler sampler, Supplier<String> publicUrl) {
        this.store = store;
        this.sampler = sampler;
        this.publicUrl = publicUrl;
    }

    FeedbackStore store() {
        return store;
    }

    Project project(long id) {
        return store.project(id).orElseThrow(() -> HttpError.notFound("project " + id));
    }

    Item item(long id) {
        return store.item(id).orElseThrow(() -> HttpError.notFound("item " + id));
    }

    // ------------------------------------------------------------ projects

    /**
     * Project settings from named fields (a form's or a JSON body's); a missing field keeps {@code old}'s value,
     * or the default for a new project.
     */
    static ProjectSettings settings(Function<String, String> field, ProjectSettings old) {
        String name = or(field.apply("name"), old == null ? null : old.name());
        String type = or(field.apply("task_type"), old == null ? null : old.taskType().wireName());
        if (type == null) {
            throw HttpError.badRequest("task_type is required (comparison, ranking or demonstration)");
        }
        TaskType t = TaskType.parse(type);
        ProjectSettings d = old != null ? old : ProjectSettings.of(name == null ? "x" : name, t, "");
        int defaultK = old != null && old.taskType() == t ? old.responsesPerItem() : ProjectSettings.of("x", t, "")
                .responsesPerItem();
        Sampling s = d.sampling();
        return new ProjectSettings(name, t, or(field.apply("guidelines"), d.guidelines()),
                integer(field, "responses_per_item", defaultK), number(field, "overlap", d.overlap()),
                integer(field, "overlap_annotators", d.overlapAnnotators()),
                new Sampling(number(field, "temperature", s.temperature()), number(field, "top_p", s.topP()),
                        integer(field, "max_new_tokens", s.maxNewTokens())),
                or(field.apply("policy_model"), d.policyModel()), or(field.apply("reward_model"), d.rewardModel()));
    }

    Project createProject(User by, ProjectSettings s) {
        Project p = store.createProject(s, by.id());
        store.audit(by.id(), "project.create", "project " + p.id() + " \"" + p.name() + "\" ("
                + p.taskType().wireName() + ")");
        return p;
    }

    Project updateProject(User by, long id, ProjectSettings s) {
        project(id);
        Project p = store.updateProject(id, s);
        store.audit(by.id(), "project.update", "project " + id + " \"" + p.name() + "\"");
        return p;
    }

    List<Item> addItems(User by, Project p, List<NewItem> items, String source) {
        List<Item> added = store.addItems(p.id(), items);
        store.audit(by.id(), "import", added.size() + " items into project " + p.id() + " from " + source);
        return added;
    }

    int closeItems(User by, Project p, List<String> externalIds) {
        int closed = store.closeItems(p.id(), externalIds);
        store.audit(by.id(), "items.close", closed + " of " + externalIds.size() + " items closed in project "
                + p.id());
        return closed;
    }

    GenerationJob generate(User by, Project p) {
        GenerationJob job = sampler.start(p.id(), by.id());
        store.audit(by.id(), "generate", "job " + job.id() + " for project " + p.id() + " (" + job.total()
                + " items)");
        return job;
    }

    /** The export as bytes (written whole before it is sent, so a failure gives an error, not half a file). */
    byte[] export(User by, Project p, boolean setAside) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int n = setAside ? Exporter.writeSetAside(store, p.id(), out) : Exporter.writeRecords(store, p.id(), out);
        store.audit(by.id(), "export", n + (setAside ? " set-aside" : "") + " records of project " + p.id());
        return out.toByteArray();
    }

    // ------------------------------------------------------------ people

    /** A new invitation link; the token is in the link only (the store keeps its hash). */
    record Invitation(String token, String url, long expiresAt) {
    }

    Invitation invite(User by, Role role) {
        String token = Tokens.newToken();
        long expires = store.now() + INVITATION_MILLIS;
        store.createInvitation(Tokens.hash(token), role, by.id(), expires);
        store.audit(by.id(), "invite", "invitation as " + role.wireName());
        String base = publicUrl.get();
        return new Invitation(token, (base.endsWith("/") ? base : base + "/") + "invite/" + token, expires);
    }

    /** Changes a person's role and/or disables them; refuses to leave the app without an enabled admin. */
    User changeUser(User by, long id, Role role, Boolean disabled) {
        User u = store.user(id).orElseThrow(() -> HttpError.notFound("user " + id));
        boolean removesAdmin = u.role() == Role.ADMIN && !u.disabled()
                && ((role != null && role != Role.ADMIN) || Boolean.TRUE.equals(disabled));
        if (removesAdmin && store.countAdmins() <= 1) {
            throw new StoreConflict("that would leave no enabled admin");
        }
        if (role != null && role != u.role()) {
            store.setRole(id, role);
            store.audit(by.id(), "role", "user " + id + " \"" + u.name() + "\": " + u.role().wireName() + " -> "
                    + role.wireName());
        }
        if (disabled != null && disabled != u.disabled()) {
            store.setDisabled(id, disabled);
            store.audit(by.id(), disabled ? "disable" : "enable", "user " + id + " \"" + u.name() + "\"");
        }
        return store.user(id).orElseThrow();
    }

    // ------------------------------------------------------------ showing responses

    /** The responses in a fresh random order to show (the order is recorded with the label). */
    static List<Response> shuffled(List<Response> responses) {
        List<Response> shown = new ArrayList<>(responses);
        synchronized (SHOW_ORDER) {
            Collections.shuffle(shown, SHOW_ORDER);
        }
        return shown;
    }

    // ------------------------------------------------------------ fields

    private static String or(String a, String b) {
        return a != null ? a : b;
    }

    private static int integer(Function<String, String> field, String name, int dflt) {
        String s = field.apply(name);
        if (s == null || s.isBlank()) {
            return dflt;
        }
        try {
            return Integer.parseInt(s.strip());
        } catch (NumberFormatException e) {
            throw HttpError.badRequest(name + " must be an integer, got \"" + s + "\"");
        }
    }

    private static double number(Function<String, String> field, String name, double dflt) {
        String s = field.apply(name);
        if (s == null || s.isBlank()) {
            return dflt;
        }
        try {
            return Double.parseDouble(s.strip());
        } catch (NumberFormatException e) {
            throw HttpError.badRequest(name + " must be a number, got \"" + s + "\"");
        }
    }

    static long id(String s, String what) {
        try {
            return Long.parseLong(s);
        } catch (NumberFormatException | NullPointerException e) {
            throw HttpError.notFound(what + " \"" + s + "\"");
        }
    }
}
