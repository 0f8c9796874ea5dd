package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;

/**
 * {@code --config FILE.yaml}: option values under their snake_case names ({@code learning_rate: 1e-4}), used as the
 * defaults of the command they are given to, so that flags on the command line override them. Unknown names are
 * errors, which catches typos in long configs.
 */
final class YamlDefaults implements CommandLine.IDefaultValueProvider {
    private final Path file;
    private final JsonNode values;

    private YamlDefaults(Path file, JsonNode values) {
        this.file = file;
        this.values = values;
    }

    /** Finds {@code --config} after a (nested) subcommand's name in {@code args} and installs its values there. */
    static void install(CommandLine root, String[] args) {
        CommandLine sub = null;
        Path config = null;
        for (int i = 0; i < args.length; i++) {
            CommandLine current = sub == null ? root : sub;
            if (config == null && current.getSubcommands().containsKey(args[i])) {
                sub = current.getSubcommands().get(args[i]); // nested commands, e.g. `reward train`
            } else if (sub != null && args[i].equals("--config") && i + 1 < args.length) {
                config = Path.of(args[i + 1]);
            } else if (sub != null && args[i].startsWith("--config=")) {
                config = Path.of(args[i].substring("--config=".length()));
            }
        }
        if (sub == null || config == null) {
            return;
        }
        if (!Files.isRegularFile(config)) {
            throw new IllegalArgumentException(config + ": no such config file");
        }
        JsonNode n;
        try {
            n = new YAMLMapper().readTree(config.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(config + ": not valid YAML (" + e.getMessage().lines().findFirst()
                    .orElse("") + ")");
        }
        if (n == null || !n.isObject()) {
            throw new IllegalArgumentException(config + ": a config file must be a mapping of option names to values");
        }
        Map<String, String> known = TrainCommand.optionNames(sub.getCommandSpec());
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!known.containsKey(key) || key.equals("config")) {
                throw new IllegalArgumentException(config + ": unknown option '" + key + "' for rlhf4j "
                        + sub.getCommandName());
            }
        }
        sub.setDefaultValueProvider(new YamlDefaults(config, n));
    }

    @Override
    public String defaultValue(CommandLine.Model.ArgSpec arg) {
        if (!(arg instanceof CommandLine.Model.OptionSpec option) || !option.longestName().startsWith("--")) {
            return null;
        }
        JsonNode v = values.get(option.longestName().substring(2).replace('-', '_'));
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isContainerNode()) {
            throw new IllegalArgumentException(file + ": option '" + option.longestName().substring(2)
                    + "' takes a single value");
        }
        return v.asText();
    }
}
