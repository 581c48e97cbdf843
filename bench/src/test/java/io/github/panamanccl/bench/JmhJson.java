package io.github.panamanccl.bench;

import java.util.Locale;

/** Minimal JMH result JSON for renderer tests: the fields the renderer reads. */
final class JmhJson {
    private JmhJson() {
    }

    static String array(String... scores) {
        return "[" + String.join(",", scores) + "]";
    }

    /** {@code params} as alternating names and values. */
    static String score(String benchmark, String unit, double score, String... params) {
        StringBuilder json = new StringBuilder("{\"benchmark\": \"io.github.panamanccl.bench.").append(benchmark)
                .append("\", \"mode\": \"avgt\", \"params\": {");
        for (int i = 0; i < params.length; i += 2) {
            json.append(i == 0 ? "" : ", ").append('"').append(params[i]).append("\": \"").append(params[i + 1]).append('"');
        }
        return json.append("}, \"primaryMetric\": {\"score\": ").append(String.format(Locale.ROOT, "%s", score))
                .append(", \"scoreError\": 0.1, \"scoreUnit\": \"").append(unit).append("\"}}").toString();
    }
}
