package dev.rlhf4j.feedback.web;

import gg.jte.ContentType;
import gg.jte.TemplateEngine;
import gg.jte.output.StringOutput;
import org.commonmark.parser.Parser;
import org.commonmark.renderer.html.HtmlRenderer;

import java.util.Map;

/**
 * Renders the pages: JTE templates compiled at build time, in HTML mode, so every {@code ${...}} is escaped for
 * where it stands. The one piece of markup not escaped is a project's guidelines, Markdown rendered by commonmark
 * with raw HTML escaped and unsafe URLs (javascript:, data:...) removed.
 */
final class Views {
    private static final TemplateEngine ENGINE = TemplateEngine.createPrecompiled(ContentType.Html);
    private static final Parser MARKDOWN = Parser.builder().build();
    private static final HtmlRenderer MARKDOWN_HTML = HtmlRenderer.builder().escapeHtml(true).sanitizeUrls(true)
            .build();

    private Views() {
    }

    /** Renders template {@code name} ("login" for login.jte) with its parameters. */
    static String render(String name, Map<String, Object> params) {
        StringOutput out = new StringOutput();
        ENGINE.render(name + ".jte", params, out);
        return out.toString();
    }

    /** Guidelines Markdown as safe HTML. */
    static String markdown(String text) {
        return MARKDOWN_HTML.render(MARKDOWN.parse(text == null ? "" : text));
    }
}
