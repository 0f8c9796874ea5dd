package dev.rlhf4j.cli;

import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.dpo.DpoConfig;
import dev.rlhf4j.train.grpo.GrpoConfig;
import dev.rlhf4j.train.ppo.PpoConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The defaults of the training commands' flags are the config records' defaults ({@link TrainingConfig#DEFAULTS},
 * {@link PpoConfig#DEFAULTS}, with {@code OptimizerConfig} inside): every flag whose snake_case name is a record
 * field must start from the record's value, so that a library user and a CLI user get the same run.
 */
class OptionDefaultsTest {

    /** Where a command deliberately starts elsewhere, and why. */
    private static final Map<String, Object> PRETRAIN = Map.of("packing", true); // a corpus is packed into full rows
    /** {@code --max-length -1}: 1024, or the model's maximum if smaller (known once the model is read). */
    private static final Map<String, Object> TRAIN = Map.of("max_length", -1);

    @Test
    void sftFlagsStartFromTheTrainingConfigDefaults() {
        assertDefaults("sft", TrainingConfig.DEFAULTS, TRAIN, 20);
    }

    @Test
    void pretrainFlagsStartFromTheTrainingConfigDefaults() {
        Map<String, Object> overrides = new LinkedHashMap<>(TRAIN);
        overrides.putAll(PRETRAIN);
        assertDefaults("pretrain", TrainingConfig.DEFAULTS, overrides, 19);
    }

    @Test
    void rewardTrainFlagsStartFromTheTrainingConfigDefaults() {
        assertDefaults("reward train", TrainingConfig.DEFAULTS, TRAIN, 18);
    }

    @Test
    void dpoFlagsStartFromTheTrainingAndDpoConfigDefaults() {
        Map<String, Object> overrides = new LinkedHashMap<>(TRAIN);
        overrides.putAll(fields(DpoConfig.DEFAULTS));
        overrides.put("learning_rate", 1e-6); // TRL's DPOConfig
        assertDefaults("dpo", TrainingConfig.DEFAULTS, overrides, 25);
    }

    @Test
    void ppoFlagsStartFromThePpoConfigDefaults() {
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("stop_token", PpoConfig.DEFAULTS.stopAtEos() ? "eos" : "none");
        assertDefaults("ppo", PpoConfig.DEFAULTS, expected, 35);
    }

    @Test
    void grpoFlagsStartFromTheGrpoConfigDefaults() {
        Map<String, Object> expected = new LinkedHashMap<>();
        expected.put("stop_token", GrpoConfig.DEFAULTS.stopAtEos() ? "eos" : "none");
        expected.put("advantage", GrpoConfig.DEFAULTS.advantage().label());
        expected.put("kl_in", null); // the estimator's own: loss for grpo, reward for rloo and reinforce++
        assertDefaults("grpo", GrpoConfig.DEFAULTS, expected, 25);
    }

    @Test
    void onlineDpoFlagsStartFromTheOnlineDpoConfigDefaults() {
        assertDefaults("online-dpo", dev.rlhf4j.train.online.OnlineDpoConfig.DEFAULTS, Map.of(), 25);
    }

    /**
     * Compares each flag of {@code command} that names a field of {@code record} (or of {@code overrides}) with
     * that value; at least {@code atLeast} flags must be compared, so that a renamed field cannot empty the test.
     */
    private static void assertDefaults(String command, Record record, Map<String, Object> overrides, int atLeast) {
        Map<String, Object> expected = fields(record);
        expected.putAll(overrides);
        CommandLine cl = new CommandLine(new Main());
        for (String name : command.split(" ")) {
            cl = cl.getSubcommands().get(name);
        }
        List<String> compared = new ArrayList<>(), wrong = new ArrayList<>();
        for (CommandLine.Model.OptionSpec o : cl.getCommandSpec().options()) {
            String key = o.longestName().substring(2).replace('-', '_');
            if (!expected.containsKey(key)) {
                continue;
            }
            compared.add(key);
            Object want = expected.get(key), got = parse(o, effectiveDefault(cl.getCommandSpec(), o));
            if (!same(want, got)) {
                wrong.add(o.longestName() + " defaults to " + got + ", the record to " + want);
            }
        }
        assertEquals(List.of(), wrong, command);
        assertTrue(compared.size() >= atLeast, command + " compared only " + compared);
    }

    /** The record's fields by snake_case name, nested records (the optimizer's) flattened. */
    private static Map<String, Object> fields(Record r) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            Object v;
            try {
                v = c.getAccessor().invoke(r);
            } catch (ReflectiveOperationException e) {
                throw new AssertionError(e);
            }
            if (v instanceof Record nested) {
                out.putAll(fields(nested));
            } else {
                out.put(c.getName().replaceAll("([A-Z])", "_$1").toLowerCase(Locale.ROOT), v);
            }
        }
        return out;
    }

    /** What picocli starts the option from: the command's default provider, else the annotation. */
    private static String effectiveDefault(CommandLine.Model.CommandSpec spec, CommandLine.Model.OptionSpec o) {
        try {
            String v = spec.defaultValueProvider() == null ? null : spec.defaultValueProvider().defaultValue(o);
            return v != null ? v : o.defaultValue();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    /** The flag's default as its field's type. */
    private static Object parse(CommandLine.Model.OptionSpec o, String v) {
        if (v == null) {
            return o.type() == boolean.class ? Boolean.FALSE : null;
        }
        Class<?> t = o.type();
        if (t == double.class || t == Double.class) {
            return Double.parseDouble(v);
        } else if (t == float.class) {
            return Float.parseFloat(v);
        } else if (t == int.class) {
            return Integer.parseInt(v);
        } else if (t == long.class) {
            return Long.parseLong(v);
        } else if (t == boolean.class) {
            return Boolean.parseBoolean(v);
        }
        return v.toLowerCase(Locale.ROOT);
    }

    private static boolean same(Object want, Object got) {
        if (want instanceof Double d && d.isNaN()) {
            return got == null || got instanceof Double g && g.isNaN(); // "none": no flag value, NaN in the record
        }
        if (want instanceof Enum<?> e) {
            return e.name().toLowerCase(Locale.ROOT).equals(got);
        }
        if (want instanceof Number w && got instanceof Number g) {
            return w.doubleValue() == g.doubleValue() && (w instanceof Float) == (g instanceof Float);
        }
        return java.util.Objects.equals(want, got);
    }
}
