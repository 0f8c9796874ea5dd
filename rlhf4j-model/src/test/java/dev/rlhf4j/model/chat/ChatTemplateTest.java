package dev.rlhf4j.model.chat;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ChatTemplateTest {
    private static final List<ChatTemplate.Message> CONVERSATION = List.of(
            new ChatTemplate.Message("system", "Be brief."),
            new ChatTemplate.Message("user", "Hi!"),
            new ChatTemplate.Message("assistant", "Hello."),
            new ChatTemplate.Message("user", "  Tell me a story.  "));

    @Test
    void chatMlRendersEveryTurnAndTheGenerationPrompt() {
        String out = ChatTemplate.chatMl(Map.of()).render(CONVERSATION, true);
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
                + "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n  Tell me a story.  <|im_end|>\n"
                + "<|im_start|>assistant\n", out);
        assertTrue(!ChatTemplate.chatMl(Map.of()).render(CONVERSATION, false).endsWith("assistant\n"));
    }

    /** The shape of Llama 2 / Mistral templates: loop variables, strip, bos/eos tokens, raise_exception. */
    private static final String LLAMA2_STYLE = "{{ bos_token }}"
            + "{% for message in messages %}"
            + "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
            + "{% endif %}"
            + "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'].strip() + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}"
            + "{% endif %}{% endfor %}";

    @Test
    void llama2StyleTemplatesWork() {
        ChatTemplate t = new ChatTemplate(LLAMA2_STYLE, Map.of("bos_token", "<s>", "eos_token", "</s>"));
        String out = t.render(CONVERSATION.subList(1, 4), false);
        assertEquals("<s>[INST] Hi! [/INST]Hello.</s>[INST] Tell me a story. [/INST]", out);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.render(CONVERSATION, false));
        assertTrue(e.getMessage().contains("must alternate"), e.getMessage());
    }

    @Test
    void templatesWithBlockWhitespaceAreTrimmedAsInHf() {
        String source = "{% for message in messages %}\n"
                + "    {% if loop.first %}<start>{% endif %}\n"
                + "{{ message['role'] }}: {{ message['content'] | trim }}\n"
                + "{% endfor %}\n"
                + "{% if add_generation_prompt %}assistant:{% endif %}";
        String out = new ChatTemplate(source, Map.of()).render(CONVERSATION.subList(1, 3), true);
        assertEquals("<start>user: Hi!\nassistant: Hello.\nassistant:", out);
    }
}
