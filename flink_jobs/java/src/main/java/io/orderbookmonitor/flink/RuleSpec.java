package io.orderbookmonitor.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

import java.util.regex.Pattern;

/**
 * One user rule as the rules job evaluates it: a record of the compacted {@code rules.changes}
 * topic (schemas/rules.changes.v1.schema.json), validated by the store before it was published
 * (rules/model.py), so parsing only refuses what cannot be evaluated at all.
 */
public final class RuleSpec {
    /** The source of a rule whose record names none (written before sources existed): the books. */
    public static final String DEFAULT_SOURCE = "orderbook.processed";
    public static final String[] CONDITIONS = {">", "<", "crosses above", "crosses below", "abs >"};
    public static final int GT = 0, LT = 1, CROSSES_ABOVE = 2, CROSSES_BELOW = 3, ABS_GT = 4;

    public final long id;
    public final long version;
    public final String name;
    public final String metric;
    public final String scope;
    public final int condition;
    public final double threshold;
    public final long minDurationMs;
    public final long cooldownMs;
    public final String severity;
    /** Where the metric comes from: a topic, with the interval for bars (rules/catalogue.py). */
    public final String source;
    private final Pattern keyPattern; // null: every book
    private final boolean wholeKey;

    public RuleSpec(long id, long version, String name, String metric, String scope, String condition,
            double threshold, long minDurationMs, long cooldownMs, String severity) {
        this(id, version, name, metric, scope, condition, threshold, minDurationMs, cooldownMs, severity,
                DEFAULT_SOURCE);
    }

    public RuleSpec(long id, long version, String name, String metric, String scope, String condition,
            double threshold, long minDurationMs, long cooldownMs, String severity, String source) {
        this.id = id;
        this.source = source;
        this.version = version;
        this.name = name;
        this.metric = metric;
        this.scope = scope;
        this.condition = conditionCode(condition);
        this.threshold = threshold;
        this.minDurationMs = minDurationMs;
        this.cooldownMs = cooldownMs;
        this.severity = severity;
        this.wholeKey = scope.indexOf(':') >= 0;
        this.keyPattern = "all".equals(scope) ? null : glob(scope);
    }

    /** A rule from its topic record (a live, enabled one: the caller drops disabled and deleted). */
    public static RuleSpec parse(JsonNode node) {
        return new RuleSpec(
                node.get("rule_id").asLong(),
                node.get("version").asLong(),
                node.get("name").asText(),
                node.get("metric").asText(),
                node.get("scope").asText(),
                node.get("condition").asText(),
                node.get("threshold").asDouble(),
                node.get("min_duration_ms").asLong(),
                node.get("cooldown_ms").asLong(),
                node.get("severity").asText(),
                node.path("source").asText(DEFAULT_SOURCE));
    }

    static int conditionCode(String condition) {
        for (int k = 0; k < CONDITIONS.length; k++) {
            if (CONDITIONS[k].equals(condition)) {
                return k;
            }
        }
        throw new IllegalArgumentException("unknown rule condition " + condition);
    }

    /** The scope as rules/model.py states it: all, exchange:symbol glob, or a symbol glob on every venue. */
    public boolean covers(String exchange, String symbol) {
        if (keyPattern == null) {
            return true;
        }
        return keyPattern.matcher(wholeKey ? exchange + ":" + symbol : symbol).matches();
    }

    /** A pair scope (rules on pairs.analytics): all, or a glob over the pair id y/x. */
    public boolean coversPair(String pair) {
        return keyPattern == null || keyPattern.matcher(pair).matches();
    }

    /** Whether the value meets the condition's level (NaN: no value, never). */
    public boolean active(double value) {
        switch (condition) {
            case GT:
            case CROSSES_ABOVE:
                return value > threshold;
            case LT:
            case CROSSES_BELOW:
                return value < threshold;
            default:
                return Math.abs(value) > threshold;
        }
    }

    /** Whether an episode may begin at this value given the previous one: a cross needs the
     * previous value known and on the other side (at or beyond the threshold). */
    public boolean mayBegin(double previous) {
        if (condition == CROSSES_ABOVE) {
            return previous <= threshold;
        }
        if (condition == CROSSES_BELOW) {
            return previous >= threshold;
        }
        return true;
    }

    private static Pattern glob(String pattern) {
        final StringBuilder regex = new StringBuilder();
        for (char c : pattern.toCharArray()) {
            if (c == '*') {
                regex.append(".*");
            } else if (c == '?') {
                regex.append('.');
            } else {
                regex.append(Pattern.quote(String.valueOf(c)));
            }
        }
        return Pattern.compile(regex.toString(), Pattern.DOTALL);
    }
}
