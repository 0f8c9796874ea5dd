package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * What HF transformers keeps beside tokenizer.json: {@code tokenizer_config.json} (special tokens by role,
 * {@code add_bos_token} / {@code add_eos_token}, the chat template, extra added tokens) and
 * {@code special_tokens_map.json}. Keys rlhf4j does not use ({@code model_max_length}, {@code padding_side}, ...)
 * are kept as read and written back on save.
 *
 * @param original                the tokenizer_config.json object as read (empty when there was none)
 * @param specialTokens           role ({@code bos_token}, {@code eos_token}, {@code pad_token}, {@code unk_token})
 *                                → token
 * @param additionalSpecialTokens {@code additional_special_tokens}
 * @param addBosToken             {@code add_bos_token}, or null where not given
 * @param addEosToken             {@code add_eos_token}, or null where not given
 * @param chatTemplate            the Jinja chat template, or null
 * @param addedTokens             {@code added_tokens_decoder}
 */
record TokenizerConfig(ObjectNode original, Map<String, String> specialTokens, List<String> additionalSpecialTokens,
                       Boolean addBosToken, Boolean addEosToken, String chatTemplate, List<AddedToken> addedTokens) {

    static final List<String> ROLES = List.of("bos_token", "eos_token", "unk_token", "pad_token");

    TokenizerConfig {
        specialTokens = Map.copyOf(specialTokens);
        additionalSpecialTokens = List.copyOf(additionalSpecialTokens);
        addedTokens = List.copyOf(addedTokens);
    }

    /** A configuration made here (llama2.c, GGUF, training) rather than read. */
    static TokenizerConfig of(Map<String, String> specialTokens, Boolean addBosToken, Boolean addEosToken) {
        return new TokenizerConfig(JsonNodeFactory.instance.objectNode(), specialTokens, List.of(), addBosToken,
                addEosToken, null, List.of());
    }

    TokenizerConfig withSpecialTokens(Map<String, String> roles) {
        return new TokenizerConfig(original, roles, additionalSpecialTokens, addBosToken, addEosToken, chatTemplate,
                addedTokens);
    }

    /** Reads the configuration files of an HF tokenizer directory; absent files mean an empty configuration. */
    static TokenizerConfig read(Path dir) throws IOException {
        Path configFile = dir.resolve("tokenizer_config.json");
        Path mapFile = dir.resolve("special_tokens_map.json");
        ObjectNode config = Files.exists(configFile) ? Json.readObject(configFile)
                : JsonNodeFactory.instance.objectNode();
        ObjectNode map = Files.exists(mapFile) ? Json.readObject(mapFile) : JsonNodeFactory.instance.objectNode();

        Map<String, String> roles = new LinkedHashMap<>();
        for (String role : ROLES) {
            String token = tokenText(config.get(role));
            roles.put(role, token != null ? token : tokenText(map.get(role)));
        }
        roles.values().removeIf(v -> v == null);
        List<String> additional = new ArrayList<>();
        JsonNode extra = config.has("additional_special_tokens") ? config.get("additional_special_tokens")
                : map.path("additional_special_tokens");
        extra.forEach(t -> {
            if (tokenText(t) != null) {
                additional.add(tokenText(t));
            }
        });

        List<AddedToken> added = new ArrayList<>();
        config.path("added_tokens_decoder").properties().forEach(e -> {
            try {
                added.add(AddedToken.fromJson(Integer.parseInt(e.getKey()), e.getValue()));
            } catch (NumberFormatException ex) {
                throw new UserError(configFile + ": added_tokens_decoder key '" + e.getKey()
                        + "' is not a token id");
            }
        });
        return new TokenizerConfig(config, roles, additional, flag(config, "add_bos_token"),
                flag(config, "add_eos_token"), chatTemplate(dir, config), added);
    }

    private static Boolean flag(JsonNode config, String name) {
        JsonNode v = config.get(name);
        return v == null || v.isNull() ? null : v.asBoolean();
    }

    /** A special token is written as a string or as an AddedToken object with a {@code content}. */
    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        return node.isObject() ? node.path("content").asText(null) : node.asText();
    }

    /**
     * {@code chat_template} of tokenizer_config.json: a string, or a list of named templates of which "default" (or
     * else the first) is taken; newer transformers save it as {@code chat_template.jinja} instead.
     */
    private static String chatTemplate(Path dir, JsonNode config) throws IOException {
        JsonNode t = config.get("chat_template");
        if (t != null && t.isTextual()) {
            return t.asText();
        }
        if (t != null && t.isArray() && !t.isEmpty()) {
            for (JsonNode named : t) {
                if ("default".equals(named.path("name").asText())) {
                    return named.path("template").asText();
                }
            }
            return t.get(0).path("template").asText();
        }
        Path jinja = dir.resolve("chat_template.jinja");
        try {
            return Files.exists(jinja) ? Files.readString(jinja) : null;
        } catch (CharacterCodingException e) {
            throw new IOException(jinja + ": not valid UTF-8 text");
        }
    }

    /**
     * What {@code encode(text, true)} adds: where tokenizer_config.json gives {@code add_bos_token} or
     * {@code add_eos_token}, BOS and/or EOS around the text, as LlamaTokenizerFast rebuilds its post-processor from
     * them (a flag not given counts as false); otherwise the tokenizer's own {@code postProcessor}.
     */
    PostProcessor postProcessor(PostProcessor postProcessor, Function<String, Integer> idOf) {
        if (addBosToken == null && addEosToken == null) {
            return postProcessor;
        }
        String bos = Boolean.TRUE.equals(addBosToken) ? requiredToken("bos_token", idOf) : null;
        String eos = Boolean.TRUE.equals(addEosToken) ? requiredToken("eos_token", idOf) : null;
        if (bos == null && eos == null) {
            return null;
        }
        return PostProcessor.Template.around(bos, bos == null ? -1 : idOf.apply(bos), eos,
                eos == null ? -1 : idOf.apply(eos));
    }

    private String requiredToken(String role, Function<String, Integer> idOf) {
        String token = specialTokens.get(role);
        if (token == null || idOf.apply(token) == null) {
            throw new UserError("tokenizer_config.json has add_" + role + " true but " + role + " "
                    + (token == null ? "is not set" : "'" + token + "' is not in the vocabulary"));
        }
        return token;
    }

    /**
     * Writes tokenizer_config.json and special_tokens_map.json into {@code dir}; {@code added_tokens_decoder} lists
     * the tokenizer's added tokens.
     */
    void write(Path dir, List<AddedToken> tokenizerAddedTokens) throws IOException {
        ObjectNode config = original.deepCopy();
        ObjectNode decoder = JsonNodeFactory.instance.objectNode();
        tokenizerAddedTokens.stream().sorted(Comparator.comparingInt(AddedToken::id))
                .forEach(t -> decoder.set(Integer.toString(t.id()), t.toJson(false)));
        config.set("added_tokens_decoder", decoder);
        ObjectNode map = JsonNodeFactory.instance.objectNode();
        for (String role : ROLES) {
            String token = specialTokens.get(role);
            config.put(role, token);
            if (token != null) {
                map.put(role, token);
            }
        }
        if (!additionalSpecialTokens.isEmpty()) {
            ArrayNode a = config.putArray("additional_special_tokens");
            additionalSpecialTokens.forEach(a::add);
            map.set("additional_special_tokens", a.deepCopy());
        }
        if (addBosToken != null) {
            config.put("add_bos_token", addBosToken);
        }
        if (addEosToken != null) {
            config.put("add_eos_token", addEosToken);
        }
        if (chatTemplate != null) {
            config.put("chat_template", chatTemplate);
        }
        if (!config.hasNonNull("tokenizer_class")) {
            config.put("tokenizer_class", "PreTrainedTokenizerFast");
        }
        Json.write(dir.resolve("tokenizer_config.json"), config);
        Json.write(dir.resolve("special_tokens_map.json"), map);
    }
}
