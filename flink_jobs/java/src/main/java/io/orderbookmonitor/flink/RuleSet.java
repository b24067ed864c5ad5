package io.orderbookmonitor.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/** The live rules at one moment, in rule id order: an immutable snapshot that {@link RuleBook}
 * replaces as a whole on every change, so a task reads it without locks. */
public final class RuleSet {
    public static final RuleSet EMPTY = new RuleSet(new RuleSpec[0]);

    private final RuleSpec[] rules;

    RuleSet(RuleSpec[] rules) {
        this.rules = rules;
    }

    public static RuleSet of(Collection<RuleSpec> rules) {
        return new RuleSet(rules.toArray(new RuleSpec[0]));
    }

    /** A fixed set from a JSON array of rule records (the bounded tests and the bench): the
     * enabled ones that are not deleted. */
    public static RuleSet fromRecords(JsonNode records) {
        final List<RuleSpec> live = new ArrayList<>();
        for (JsonNode record : records) {
            if (isLive(record)) {
                live.add(RuleSpec.parse(record));
            }
        }
        live.sort((a, b) -> Long.compare(a.id, b.id));
        return of(live);
    }

    static boolean isLive(JsonNode record) {
        return record.path("enabled").asBoolean(false) && !record.path("deleted").asBoolean(false);
    }

    /** The rules on the books that cover one book, in id order. */
    public RuleSpec[] covering(String exchange, String symbol) {
        return covering(RuleSpec.DEFAULT_SOURCE, exchange, symbol);
    }

    /** The rules on `source` (a topic, with the interval for bars) that cover one symbol, in id order. */
    public RuleSpec[] covering(String source, String exchange, String symbol) {
        final List<RuleSpec> out = new ArrayList<>();
        for (RuleSpec rule : rules) {
            if (rule.source.equals(source) && rule.covers(exchange, symbol)) {
                out.add(rule);
            }
        }
        return out.toArray(new RuleSpec[0]);
    }

    /** The rules on `source` (pairs.analytics) that cover one pair y/x, in id order. */
    public RuleSpec[] coveringPair(String source, String pair) {
        final List<RuleSpec> out = new ArrayList<>();
        for (RuleSpec rule : rules) {
            if (rule.source.equals(source) && rule.coversPair(pair)) {
                out.add(rule);
            }
        }
        return out.toArray(new RuleSpec[0]);
    }

    public int size() {
        return rules.length;
    }
}
