package dev.rlhf4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * {@code --config FILE.yaml}: option values under their snake_case names ({@code learning_rate: 1e-4}), used as the
 * defaults of the command they are given to, so that flags on the command line override them. Unknown names,
 * repeated names and lists are errors, which catches typos in long configs; a value of the wrong type is reported
 * with the file and the name ({@link #describeBadValue}).
 */
final class YamlDefaults implements CommandLine.IDefaultValueProvider {
    private static final YAMLMapper YAML = YAMLMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();
    /** Options that make no sense in a file: the file itself, and what only changes how the command reports. */
    private static final Set<String> NOT_IN_FILES = Set.of("config", "debug", "help", "version");

    private final Path file;
    private final JsonNode values;
    /** The command's own defaults (its config record's), for what the file does not set. */
    private final CommandLine.IDefaultValueProvider fallback;

    private YamlDefaults(Path file, JsonNode values, CommandLine.IDefaultValueProvider fallback) {
        this.file = file;
        this.values = values;
        this.fallback = fallback;
    }

    /** Finds {@code --config} after a (nested) subcommand's name in {@code args} and installs its values there. */
    static void install(CommandLine root, String[] args) {
        CommandLine sub = null;
        Path config = null;
        for (int i = 0; i < args.length && !args[i].equals("--"); i++) {
            CommandLine current = sub == null ? root : sub;
            if (config == null && current.getSubcommands().containsKey(args[i])) {
                sub = current.getSubcommands().get(args[i]); // nested commands, e.g. `reward train`
            } else if (sub != null && args[i].equals("--config") && i + 1 < args.length) {
                config = Path.of(args[i + 1]);
            } else if (sub != null && args[i].startsWith("--config=")) {
                config = Path.of(args[i].substring("--config=".length()));
            }
        }
        if (sub == null || config == null || sub.getCommandSpec().findOption("--config") == null) {
            return; // picocli reports --config where a command has none
        }
        if (Files.isDirectory(config)) {
            throw new UserError(config + ": is a directory, not a config file");
        }
        if (!Files.isRegularFile(config)) {
            throw new UserError(config + ": no such config file");
        }
        JsonNode n;
        try {
            n = YAML.readTree(config.toFile());
        } catch (JsonProcessingException e) {
            String line = e.getLocation() == null ? "" : ":" + e.getLocation().getLineNr();
            String why = e.getOriginalMessage().startsWith("Duplicate field ")
                    ? "'" + e.getOriginalMessage().substring("Duplicate field ".length()).replace("'", "")
                    + "' is given twice"
                    : "not valid YAML (" + e.getOriginalMessage().lines().findFirst().orElse("") + ")";
            throw new UserError(config + line + ": " + why);
        } catch (IOException e) {
            throw new UserError(config + ": cannot read the config file (" + Main.message(e) + ")");
        }
        if (n == null || n.isMissingNode() || n.isNull()) {
            return; // an empty file sets nothing
        }
        if (!n.isObject()) {
            throw new UserError(config + ": a config file must be a mapping of option names to values");
        }
        Map<String, String> known = optionNames(sub.getCommandSpec());
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = e.getKey();
            if (!known.containsKey(key) || NOT_IN_FILES.contains(key)) {
                throw new UserError(config + ": unknown option '" + key + "' for "
                        + sub.getCommandSpec().qualifiedName());
            }
            if (e.getValue().isContainerNode()) {
                throw new UserError(config + ": " + key + ": takes a single value, not a "
                        + (e.getValue().isArray() ? "list" : "mapping"));
            }
        }
        sub.setDefaultValueProvider(new YamlDefaults(config, n, sub.getDefaultValueProvider()));
    }

    @Override
    public String defaultValue(CommandLine.Model.ArgSpec arg) throws Exception {
        String key = key(arg);
        JsonNode v = key == null ? null : values.get(key);
        if (v == null || v.isNull()) {
            return fallback == null ? null : fallback.defaultValue(arg);
        }
        return v.asText();
    }

    /** The name of an option in config files: its long name in snake_case. */
    private static String key(CommandLine.Model.ArgSpec arg) {
        if (!(arg instanceof CommandLine.Model.OptionSpec option) || !option.longestName().startsWith("--")) {
            return null;
        }
        return option.longestName().substring(2).replace('-', '_');
    }

    /** The config file that set {@code key} on this command (not overridden on the command line), if one did. */
    private static YamlDefaults source(CommandLine cl, CommandLine.Model.OptionSpec option) {
        if (!(cl.getDefaultValueProvider() instanceof YamlDefaults yaml)) {
            return null;
        }
        String key = key(option);
        CommandLine.ParseResult parsed = cl.getParseResult();
        if (key == null || !yaml.values.hasNonNull(key) || parsed != null && parsed.hasMatchedOption(option)) {
            return null;
        }
        return yaml;
    }

    /**
     * For a value picocli could not convert that came from a config file: "FILE: KEY: 'abc' is not a number";
     * null when the value came from the command line.
     */
    static String describeBadValue(CommandLine.ParameterException ex) {
        if (!(ex.getArgSpec() instanceof CommandLine.Model.OptionSpec option)
                || !(ex.getCause() instanceof CommandLine.TypeConversionException t)) {
            return null;
        }
        YamlDefaults yaml = source(ex.getCommandLine(), option);
        if (yaml == null) {
            return null;
        }
        return yaml.file + ": " + key(option) + ": " + Main.conversionMessage(option, ex.getValue(), t);
    }

    /**
     * Puts the config file in front of a message about an option ("learning_rate must be positive", "--seed ...")
     * whose value came from that file, so that the user knows where to look.
     */
    static String attribute(CommandLine cl, String message) {
        if (cl == null || message == null) {
            return message;
        }
        int space = message.indexOf(' ');
        String first = space < 0 ? message : message.substring(0, space);
        String name = first.startsWith("--") ? first : "--" + first.replace('_', '-');
        CommandLine.Model.OptionSpec option = cl.getCommandSpec().findOption(name);
        YamlDefaults yaml = option == null ? null : source(cl, option);
        return yaml == null ? message : yaml.file + ": " + key(option) + (space < 0 ? "" : message.substring(space));
    }

    /** The snake_case names a config file may use for the options of {@code spec}, each to its long option name. */
    static Map<String, String> optionNames(CommandLine.Model.CommandSpec spec) {
        Map<String, String> names = new TreeMap<>();
        for (CommandLine.Model.OptionSpec o : spec.options()) {
            String longest = o.longestName();
            if (longest.startsWith("--")) {
                names.put(longest.substring(2).replace('-', '_'), longest);
            }
        }
        return names;
    }
}
