package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code post_processor} of a tokenizer.json: what {@code encode(text, true)} adds around the ids of one text
 * (only single sequences are encoded here; a template's pair form is kept for saving).
 */
sealed interface PostProcessor {

    int[] process(int[] ids);

    ObjectNode toJson();

    static PostProcessor fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "TemplateProcessing" -> Template.fromJson(node);
            case "ByteLevel" -> new ByteLevel(node.path("add_prefix_space").asBoolean(true),
                    node.path("trim_offsets").asBoolean(true), node.path("use_regex").asBoolean(true));
            case "RobertaProcessing", "BertProcessing" -> new ClsSep(type, node.path("cls").path(0).asText(),
                    node.path("cls").path(1).asInt(), node.path("sep").path(0).asText(),
                    node.path("sep").path(1).asInt(), node.path("trim_offsets").asBoolean(true),
                    node.path("add_prefix_space").asBoolean(true));
            case "Sequence" -> {
                List<PostProcessor> steps = new ArrayList<>();
                for (JsonNode step : node.path("processors")) {
                    steps.add(fromJson(step));
                }
                yield new Sequence(steps);
            }
            default -> throw new IllegalArgumentException("post_processor type '" + type + "' is not supported"
                    + " (TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
        };
    }

    private static ObjectNode typed(String type) {
        return JsonNodeFactory.instance.objectNode().put("type", type);
    }

    /**
     * HF's TemplateProcessing, e.g. Llama 2's {@code "<s> $A"}: items are special tokens (which may stand for
     * several ids) or the sequence {@code A} / {@code B}, each with a type id.
     */
    record Template(List<Item> single, List<Item> pair, Map<String, SpecialToken> specialTokens)
            implements PostProcessor {

        record Item(boolean sequence, String id, int typeId) {
        }

        record SpecialToken(String id, int[] ids, List<String> tokens) {
        }

        /**
         * The template LlamaTokenizerFast builds from {@code add_bos_token} / {@code add_eos_token}: BOS and/or EOS
         * around {@code $A} (and around {@code $B} in the pair form). A null token is not added.
         */
        static Template around(String bos, int bosId, String eos, int eosId) {
            List<Item> single = new ArrayList<>(), pair = new ArrayList<>();
            Map<String, SpecialToken> specials = new LinkedHashMap<>();
            for (int typeId = 0; typeId < 2; typeId++) {
                List<Item> items = typeId == 0 ? single : pair;
                if (bos != null) {
                    items.add(new Item(false, bos, typeId));
                    specials.put(bos, new SpecialToken(bos, new int[] {bosId}, List.of(bos)));
                }
                items.add(new Item(true, typeId == 0 ? "A" : "B", typeId));
                if (eos != null) {
                    items.add(new Item(false, eos, typeId));
                    specials.put(eos, new SpecialToken(eos, new int[] {eosId}, List.of(eos)));
                }
            }
            List<Item> fullPair = new ArrayList<>(single);
            fullPair.addAll(pair);
            return new Template(single, fullPair, specials);
        }

        static Template fromJson(JsonNode node) {
            Map<String, SpecialToken> specials = new LinkedHashMap<>();
            node.path("special_tokens").properties().forEach(e -> {
                JsonNode s = e.getValue();
                List<String> tokens = new ArrayList<>();
                s.path("tokens").forEach(t -> tokens.add(t.asText()));
                int[] ids = new int[s.path("ids").size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = s.path("ids").get(i).asInt();
                }
                specials.put(e.getKey(), new SpecialToken(s.path("id").asText(e.getKey()), ids, tokens));
            });
            Template t = new Template(items(node.path("single")), items(node.path("pair")), specials);
            for (Item item : t.single) {
                if (!item.sequence && !specials.containsKey(item.id)) {
                    throw new IllegalArgumentException("TemplateProcessing uses '" + item.id
                            + "' which is not among its special_tokens");
                }
            }
            return t;
        }

        private static List<Item> items(JsonNode array) {
            List<Item> items = new ArrayList<>();
            for (JsonNode piece : array) {
                if (piece.has("SpecialToken")) {
                    JsonNode s = piece.get("SpecialToken");
                    items.add(new Item(false, s.path("id").asText(), s.path("type_id").asInt()));
                } else if (piece.has("Sequence")) {
                    JsonNode s = piece.get("Sequence");
                    items.add(new Item(true, s.path("id").asText(), s.path("type_id").asInt()));
                } else {
                    throw new IllegalArgumentException("TemplateProcessing item " + piece
                            + " is neither SpecialToken nor Sequence");
                }
            }
            return items;
        }

        public int[] process(int[] ids) {
            IntArray out = new IntArray(ids.length + 4);
            for (Item item : single) {
                out.addAll(item.sequence ? ids : specialTokens.get(item.id).ids());
            }
            return out.toArray();
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("TemplateProcessing");
            json.set("single", itemsJson(single));
            json.set("pair", itemsJson(pair));
            ObjectNode specials = json.putObject("special_tokens");
            specialTokens.forEach((name, s) -> {
                ObjectNode entry = specials.putObject(name).put("id", s.id());
                ArrayNode ids = entry.putArray("ids");
                for (int id : s.ids()) {
                    ids.add(id);
                }
                ArrayNode tokens = entry.putArray("tokens");
                s.tokens().forEach(tokens::add);
            });
            return json;
        }

        private static ArrayNode itemsJson(List<Item> items) {
            ArrayNode array = JsonNodeFactory.instance.arrayNode();
            for (Item item : items) {
                array.addObject().putObject(item.sequence ? "Sequence" : "SpecialToken").put("id", item.id)
                        .put("type_id", item.typeId);
            }
            return array;
        }
    }

    /** GPT-2's: adds nothing (in HF it only trims offsets). Its flags are kept for saving. */
    record ByteLevel(boolean addPrefixSpace, boolean trimOffsets, boolean useRegex) implements PostProcessor {
        public int[] process(int[] ids) {
            return ids;
        }

        public ObjectNode toJson() {
            return typed("ByteLevel").put("add_prefix_space", addPrefixSpace).put("trim_offsets", trimOffsets)
                    .put("use_regex", useRegex);
        }
    }

    /** RobertaProcessing / BertProcessing: {@code cls $A sep}. */
    record ClsSep(String type, String cls, int clsId, String sep, int sepId, boolean trimOffsets,
                  boolean addPrefixSpace) implements PostProcessor {
        public int[] process(int[] ids) {
            int[] out = new int[ids.length + 2];
            out[0] = clsId;
            System.arraycopy(ids, 0, out, 1, ids.length);
            out[ids.length + 1] = sepId;
            return out;
        }

        public ObjectNode toJson() {
            ObjectNode json = typed(type);
            json.putArray("sep").add(sep).add(sepId);
            json.putArray("cls").add(cls).add(clsId);
            if (type.equals("RobertaProcessing")) {
                json.put("trim_offsets", trimOffsets).put("add_prefix_space", addPrefixSpace);
            }
            return json;
        }
    }

    record Sequence(List<PostProcessor> steps) implements PostProcessor {
        public int[] process(int[] ids) {
            for (PostProcessor step : steps) {
                ids = step.process(ids);
            }
            return ids;
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Sequence");
            ArrayNode array = json.putArray("processors");
            steps.forEach(step -> array.add(step.toJson()));
            return json;
        }
    }
}
