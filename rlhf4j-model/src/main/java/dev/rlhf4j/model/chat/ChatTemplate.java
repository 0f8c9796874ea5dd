package dev.rlhf4j.model.chat;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.FatalTemplateErrorsException;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A tokenizer's chat template ({@code chat_template} in tokenizer_config.json) rendered with Jinjava, configured as
 * HF transformers configures Jinja for these templates: {@code trim_blocks} and {@code lstrip_blocks} on, the
 * variables {@code messages}, {@code add_generation_prompt}, {@code bos_token}, {@code eos_token} and the special
 * tokens, and a {@code raise_exception(message)} function. Models without a template get ChatML.
 */
public final class ChatTemplate {

    /** One message of a conversation. */
    public record Message(String role, String content) {
        public Message {
            if (role == null || role.isBlank()) {
                throw new UserError("a chat message needs a role");
            }
            if (content == null) {
                throw new UserError("chat message of role '" + role + "' has no content");
            }
        }
    }

    /** ChatML (OpenAI; Qwen2 and SmolLM2 use it), the default where a model ships no template. */
    public static final String CHATML = "{% for message in messages %}"
            + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    private final String source;
    private final Map<String, String> specialTokens;
    private final Jinjava jinjava;

    /**
     * @param source        the Jinja template
     * @param specialTokens roles to token strings, e.g. {@code bos_token → "<s>"}; they become template variables
     */
    public ChatTemplate(String source, Map<String, String> specialTokens) {
        if (source == null || source.isBlank()) {
            throw new UserError("chat template is empty");
        }
        this.source = source;
        this.specialTokens = Map.copyOf(specialTokens);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withFailOnUnknownTokens(false)
                .build();
        this.jinjava = new Jinjava(config);
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
    }

    /** ChatML with the given special tokens. */
    public static ChatTemplate chatMl(Map<String, String> specialTokens) {
        return new ChatTemplate(CHATML, specialTokens);
    }

    public String source() {
        return source;
    }

    /** Called by templates through {@code raise_exception(...)}, as HF templates do to reject a conversation. */
    public static String raiseException(String message) {
        throw new UserError("chat template: " + message);
    }

    /**
     * The conversation as the model's prompt text; with {@code addGenerationPrompt} it ends where the assistant's
     * answer begins.
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> msgs = new ArrayList<>();
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            msgs.add(map);
        }
        Map<String, Object> vars = new HashMap<>(specialTokens);
        vars.put("messages", msgs);
        vars.put("add_generation_prompt", addGenerationPrompt);
        RenderResult result;
        try {
            result = jinjava.renderForResult(source, vars);
        } catch (FatalTemplateErrorsException e) {
            throw new UserError("chat template: " + firstError(e.getErrors()), e);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                Throwable cause = error.getException();
                while (cause != null) {
                    if (cause instanceof IllegalArgumentException iae && iae.getMessage() != null
                            && iae.getMessage().startsWith("chat template: ")) {
                        throw iae;
                    }
                    cause = cause.getCause();
                }
                throw new UserError("chat template: " + error.getMessage()
                        + (error.getLineno() > 0 ? " (line " + error.getLineno() + ")" : ""));
            }
        }
        return result.getOutput();
    }

    private static String firstError(Iterable<TemplateError> errors) {
        for (TemplateError e : errors) {
            return e.getMessage();
        }
        return "rendering failed";
    }
}
