package dev.rlhf4j.cli;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packages of the main sources of every module form a graph without cycles, so each package can be read (and
 * tested) on top of the ones it uses. The graph comes from the {@code package} line and the {@code dev.rlhf4j}
 * names a file uses: imports and fully qualified names in code.
 */
class PackageGraphTest {
    private static final Pattern PACKAGE = Pattern.compile("^package ([\\w.]+);", Pattern.MULTILINE);
    // a qualified name up to its first capitalised part (the class): dev.rlhf4j.model.io.Pretrained -> model.io
    private static final Pattern REFERENCE = Pattern.compile("\\b(dev\\.rlhf4j(?:\\.[a-z]\\w*)*)\\.[A-Z]");

    @Test
    void mainSourcesHaveNoPackageCycle() throws IOException {
        Map<String, Set<String>> graph = packageGraph(repositoryRoot());
        // the graph really was read: every module's packages are in it
        for (String p : List.of("dev.rlhf4j.tensor", "dev.rlhf4j.model", "dev.rlhf4j.model.io", "dev.rlhf4j.train",
                "dev.rlhf4j.train.data", "dev.rlhf4j.feedback.store", "dev.rlhf4j.feedback.web", "dev.rlhf4j.cli",
                "dev.rlhf4j.bench")) {
            assertTrue(graph.containsKey(p), p + " missing from " + graph.keySet());
        }
        assertTrue(graph.get("dev.rlhf4j.cli").contains("dev.rlhf4j.train"), graph.toString());
        assertEquals(List.of(), cycle(graph), "package cycle in " + graph);
    }

    @Test
    void onlyTheSparkModuleSeesSpark() throws IOException {
        // the core modules stay Spark-free: Spark (and Scala) is named in rlhf4j-spark's sources only
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> modules = Files.list(repositoryRoot())) {
            for (Path module : modules.filter(m -> Files.isDirectory(m.resolve("src/main/java"))).toList()) {
                if (module.getFileName().toString().equals("rlhf4j-spark")) {
                    continue;
                }
                try (Stream<Path> files = Files.walk(module.resolve("src/main/java"))) {
                    for (Path f : files.filter(x -> x.toString().endsWith(".java")).toList()) {
                        String text = Files.readString(f);
                        if (text.contains("org.apache.spark") || text.contains("import scala.")) {
                            offenders.add(f.toString());
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), offenders);
    }

    @Test
    void aCycleIsFound() {
        Map<String, Set<String>> graph = new TreeMap<>();
        graph.put("a", Set.of("b"));
        graph.put("b", Set.of("c"));
        graph.put("c", Set.of("a"));
        graph.put("d", Set.of("a"));
        assertEquals(List.of("a", "b", "c", "a"), cycle(graph));
        graph.put("c", Set.of());
        assertEquals(List.of(), cycle(graph));
    }

    /** The repository root: the parent of the module directory Maven runs the tests in. */
    static Path repositoryRoot() {
        Path here = Path.of("").toAbsolutePath();
        return Files.isDirectory(here.resolve("rlhf4j-model")) ? here : here.getParent();
    }

    /** Each package of the modules' {@code src/main/java} to the other {@code dev.rlhf4j} packages it uses. */
    static Map<String, Set<String>> packageGraph(Path root) throws IOException {
        Map<String, Set<String>> graph = new TreeMap<>();
        List<Path> sources = new ArrayList<>();
        try (Stream<Path> modules = Files.list(root)) {
            for (Path module : modules.filter(m -> Files.isDirectory(m.resolve("src/main/java"))).toList()) {
                try (Stream<Path> files = Files.walk(module.resolve("src/main/java"))) {
                    files.filter(f -> f.toString().endsWith(".java")).forEach(sources::add);
                }
            }
        }
        for (Path file : sources) {
            String text;
            try {
                text = Files.readString(file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Matcher pm = PACKAGE.matcher(text);
            if (!pm.find()) {
                continue; // package-info without a package line, or a default-package file
            }
            String pkg = pm.group(1);
            Set<String> uses = graph.computeIfAbsent(pkg, k -> new TreeSet<>());
            for (String line : text.split("\n")) {
                String code = withoutComment(line);
                if (code.startsWith("package ")) {
                    continue;
                }
                Matcher rm = REFERENCE.matcher(code);
                while (rm.find()) {
                    if (!rm.group(1).equals(pkg)) {
                        uses.add(rm.group(1));
                    }
                }
            }
        }
        return graph;
    }

    private static String withoutComment(String line) {
        String t = line.strip();
        if (t.startsWith("*") || t.startsWith("/*") || t.startsWith("//")) {
            return "";
        }
        int slashes = t.indexOf("//");
        return slashes < 0 ? t : t.substring(0, slashes);
    }

    /** One cycle as a path that returns to its start, or an empty list when the graph has none. */
    static List<String> cycle(Map<String, Set<String>> graph) {
        Map<String, Integer> state = new TreeMap<>(); // 1 = on the current path, 2 = done
        for (String start : graph.keySet()) {
            List<String> path = new ArrayList<>();
            if (visit(start, graph, state, path)) {
                String last = path.getLast();
                return new ArrayList<>(path.subList(path.indexOf(last), path.size()));
            }
        }
        return List.of();
    }

    private static boolean visit(String p, Map<String, Set<String>> graph, Map<String, Integer> state,
            List<String> path) {
        Integer s = state.get(p);
        if (s != null && s == 2) {
            return false;
        }
        path.add(p);
        if (s != null) {
            return true; // back on the path: a cycle
        }
        state.put(p, 1);
        for (String next : graph.getOrDefault(p, Set.of())) {
            if (visit(next, graph, state, path)) {
                return true;
            }
        }
        state.put(p, 2);
        path.removeLast();
        return false;
    }
}
