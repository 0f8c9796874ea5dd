package dev.rlhf4j.feedback.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.feedback.quality.QualityReport;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.ProjectCounts;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonShapesTest {
    @Test
    void theQualityReportIsSentWithTheFieldsOfFeedbackStatsJson() {
        QualityReport r = new QualityReport(3, new ProjectCounts(4, 4, 6, 2), 2, 0.5, 0.25, null, 0.75, null, 0,
                Map.of(Flag.HARMFUL, 1), List.of(new QualityReport.Annotator(7, "ann", 3, 1.5, 2.0, 0.5, 1.0, null,
                null, null)), List.of(new QualityReport.Pair("ann", "bob", 2, 0.5, 0.0, null)));
        // what Api.quality sends, through the API's mapper
        JsonNode n = Json.SNAKE.valueToTree(r.toMap());
        assertEquals(3, n.get("project_id").asLong());
        assertEquals(0.25, n.get("cohens_kappa").asDouble());
        assertTrue(n.get("kendall_tau").isNull());
        assertEquals(4, n.get("ready_items").asInt());
        assertEquals(1, n.get("flags").get("harmful").asInt());
        assertEquals(1.5, n.get("annotators").get(0).get("median_seconds").asDouble());
        assertEquals("bob", n.get("pairs").get(0).get("second").asText());
    }
}
