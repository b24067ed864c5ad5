package io.orderbookmonitor.flink;

import java.util.List;

/**
 * The rules of one book, record by record, on one primitive array of state per key (slots of
 * {@link #SLOT} doubles, one per rule that covers the key, in the rule set's order).
 *
 * <p>Per rule: an episode begins at the first record whose value meets the condition (for a cross,
 * only where the previous value was known and on the other side) and ends at the first that does
 * not (a missing value ends it). An episode fires once, at its first record held for at least the
 * minimum duration (event time since the episode began) and at least the cooldown after the rule's
 * last alert on this book. Records are taken in arrival order (orderbook.processed keeps each
 * book's order). A rule whose version changed starts afresh: new episode, no cooldown.
 * The same definition in Python: tests/rules/reference_rules.py.
 */
public final class RuleEvaluator {
    public static final int SLOT = 6;
    static final int ID = 0, VERSION = 1, START = 2, FIRED = 3, LAST = 4, PREV = 5;

    /** An alert: the index of the rule in the key's rules, when its episode began, the value. */
    public static final class Fired {
        public final int rule;
        public final long start;
        public final double value;

        Fired(int rule, long start, double value) {
            this.rule = rule;
            this.start = start;
            this.value = value;
        }
    }

    private RuleEvaluator() {}

    /** The state laid out for `rules`: kept as it is when it already is, otherwise each slot
     * carried over from a slot of the same rule id and version, fresh for the others. */
    public static double[] align(double[] state, RuleSpec[] rules) {
        final int n = rules.length;
        if (state != null && state.length == n * SLOT) {
            boolean same = true;
            for (int i = 0; i < n && same; i++) {
                same = state[i * SLOT + ID] == rules[i].id && state[i * SLOT + VERSION] == rules[i].version;
            }
            if (same) {
                return state;
            }
        }
        final double[] out = new double[n * SLOT];
        for (int i = 0; i < n; i++) {
            final int at = i * SLOT;
            out[at + ID] = rules[i].id;
            out[at + VERSION] = rules[i].version;
            out[at + START] = Double.NaN;
            out[at + LAST] = Double.NaN;
            out[at + PREV] = Double.NaN;
            if (state != null) {
                for (int j = 0; j + SLOT <= state.length; j += SLOT) {
                    if (state[j + ID] == rules[i].id && state[j + VERSION] == rules[i].version) {
                        System.arraycopy(state, j, out, at, SLOT);
                        break;
                    }
                }
            }
        }
        return out;
    }

    /** One record: `values[i]` is rule i's metric (NaN when missing); alerts are added to `out`. */
    public static void step(double[] s, RuleSpec[] rules, double[] values, long eventTime, List<Fired> out) {
        for (int i = 0; i < rules.length; i++) {
            final RuleSpec rule = rules[i];
            final int at = i * SLOT;
            final double value = values[i];
            if (!rule.active(value)) {
                s[at + START] = Double.NaN;
                s[at + FIRED] = 0;
            } else if (Double.isNaN(s[at + START]) && rule.mayBegin(s[at + PREV])) {
                s[at + START] = eventTime;
                s[at + FIRED] = 0;
            }
            if (!Double.isNaN(s[at + START])
                    && s[at + FIRED] == 0
                    && eventTime - s[at + START] >= rule.minDurationMs
                    && (Double.isNaN(s[at + LAST]) || eventTime - s[at + LAST] >= rule.cooldownMs)) {
                s[at + FIRED] = 1;
                s[at + LAST] = eventTime;
                out.add(new Fired(i, (long) s[at + START], value));
            }
            s[at + PREV] = value;
        }
    }
}
