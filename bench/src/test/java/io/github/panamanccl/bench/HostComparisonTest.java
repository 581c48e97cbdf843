package io.github.panamanccl.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.StringReader;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.List;

import io.github.panamanccl.bucket.Inventory;
import io.github.panamanccl.cli.ModelInventories;

import org.junit.jupiter.api.Test;

/** The comparison's command line, its plan, and the inventories handed to the gloo peer. */
class HostComparisonTest {
    private static final ZonedDateTime NOW = ZonedDateTime.parse("2026-12-01T21:39:10Z");

    @Test
    void settingsDefaultToAFullRunNamedByDateAndTime() {
        HostComparison.Settings full = HostComparison.Settings.parse(List.of(), NOW);
        HostComparison.Settings quick = HostComparison.Settings.parse(List.of("--quick", "--results", "/tmp/r"), NOW);
        HostComparison.Settings labelled = HostComparison.Settings.parse(List.of("--label", "before", "--python", "py"), NOW);

        assertEquals(Path.of("bench/results/2026-12-01-host-compare-2139.json"), full.resultFile(NOW));
        assertEquals(Path.of("/tmp/r/2026-12-01-host-compare-quick-2139.json"), quick.resultFile(NOW));
        assertEquals(Path.of("bench/results/2026-12-01-host-compare-before.json"), labelled.resultFile(NOW));
        assertEquals("py", labelled.python());
    }

    @Test
    void badOptionsAreRefusedWithWhatToDo() {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> HostComparison.Settings.parse(List.of("--fast"), NOW));
        IllegalArgumentException label = assertThrows(IllegalArgumentException.class,
                () -> HostComparison.Settings.parse(List.of("--label", "../x"), NOW));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> HostComparison.Settings.parse(List.of("--python"), NOW));

        assertTrue(unknown.getMessage().contains("'--fast'") && unknown.getMessage().contains("usage"), unknown.getMessage());
        assertTrue(label.getMessage().contains("'../x'"), label.getMessage());
        assertEquals("--python needs a value", missing.getMessage());
    }

    @Test
    void theFullPlanCoversTheIssuesMatrixWithinItsBound() {
        HostComparisonPlan.Plan plan = HostComparisonPlan.of(false);

        List<HostComparisonPlan.JmhPart> sync = plan.jmh().stream().filter(part -> part.name().startsWith("sync-")).toList();
        assertEquals(12, sync.size(), "4 tensor counts x 3 receiver counts, one JMH run each");
        assertEquals(List.of("1000", "4000", "18867", "74391"),
                sync.stream().filter(part -> part.params().get("receivers").equals(List.of("2")))
                        .map(part -> part.params().get("tensors").getFirst()).toList());
        assertTrue(sync.stream().allMatch(part -> part.trials() == 3), "bucketed, per-tensor and raw TCP together");
        assertEquals(List.of("sync-1000-1", "sync-4000-1", "sync-18867-1", "sync-74391-1", "gloo-1", "sync-1000-2"),
                plan.steps().subList(0, 6).stream().map(HostComparisonPlan.Part::name).toList(),
                "gloo right after the Java contenders of the same receiver count");
        assertEquals(List.of("8"), plan.jmh().stream().filter(part -> part.name().equals("scaling")).findFirst()
                .orElseThrow().params().get("receivers"));
        assertEquals(List.of(1, 2, 4), plan.gloo().stream().map(HostComparisonPlan.GlooPart::receivers).toList());
        assertEquals(List.of(1000, 4000, 18867, 74391), plan.glooTensorCounts());
        assertTrue(plan.estimate().compareTo(Duration.ofMinutes(15)) < 0, "bound " + plan.estimate());
        assertTrue(HostComparisonPlan.of(true).estimate().compareTo(Duration.ofMinutes(5)) < 0,
                "quick bound " + HostComparisonPlan.of(true).estimate());
    }

    @Test
    void theGlooPeerGetsExactlyTheTensorsTheJavaSideSyncs() throws IOException {
        Inventory model = BenchModels.hostModel(1000, 64L << 20);

        Inventory written = Inventory.parse(new StringReader(HostComparison.inventoryText(model)), "written");

        assertEquals(model.tensors(), written.tensors());
        assertEquals(1000, written.size());
    }

    @Test
    void hostModelsFitTheBudgetOrAreAsSmallAsOneScalingGets() {
        Inventory small = BenchModels.hostModel(18867, 64L << 20);
        Inventory large = BenchModels.hostModel(74391, 64L << 20);

        assertTrue(small.totalBytes() <= 64L << 20 && small.totalBytes() > 48L << 20, small.toString());
        assertEquals(ModelInventories.load("qwen3-30b-a3b").size(), small.size());
        assertEquals(ModelInventories.load("qwen3-next-80b-a3b").size(), large.size());
        assertEquals(76_125_514, large.totalBytes(), "every largest dimension at 1: " + large);
        assertThrows(IllegalArgumentException.class, () -> BenchModels.hostModel(74392, 64L << 20));
    }
}
