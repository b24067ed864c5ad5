package io.orderbookmonitor.flink;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.Row;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The user rules job in one keyed operator: every live rule on this input's source that covers a
 * key, evaluated on each of its records ({@link RuleEvaluator}, state: one primitive array per
 * key). Called from SQL (flink_jobs/user_rules.py, one job per source topic) with the rules source
 * ({@link RuleBook}) and the topic: a change to the rules reaches the running job within a poll of
 * the topic, without a redeploy.
 *
 * <p>Input: the columns of the source topic (a rule's metric is a column by name, a number or a
 * decimal text; a rule naming a column the input lacks never fires). What a record is keyed and
 * timed by comes from its columns: a `pair` column keys by the pair (pairs.analytics), otherwise
 * exchange:symbol; an `interval` column makes the record's source `topic:interval` (the bars);
 * its time is `event_time`, or `window_start` for the bars (each topic's x-event-time). Output: per
 * alert, the rule's id, version, name, severity, metric value, threshold, episode start, the
 * event time and its text after the subject.
 */
@DataTypeHint(
        "ROW<rule_id BIGINT, rule_version BIGINT, rule_name STRING, severity STRING, metric_value DOUBLE,"
                + " threshold DOUBLE, window_start BIGINT, window_end BIGINT, text STRING>")
public class RuleFunction extends ProcessTableFunction<Row> {

    /** A key's state: {@link RuleEvaluator}'s layout. */
    public static class RuleState {
        public double[] values;
    }

    /** The rules covering one key and the input column of each one's metric. */
    private static final class Bound {
        final RuleSpec[] rules;
        final int[] columns;
        final double[] values;

        Bound(RuleSpec[] rules, int[] columns) {
            this.rules = rules;
            this.columns = columns;
            this.values = new double[rules.length];
        }
    }

    private transient RuleBook book;
    private transient RuleSet bookedSet;
    private transient Map<String, Bound> bound;
    private transient List<String> names;
    // Input columns: exchange, symbol, pair, interval, time (-1 where the input has none).
    private transient int exchangeColumn;
    private transient int symbolColumn;
    private transient int pairColumn;
    private transient int intervalColumn;
    private transient int timeColumn;
    private transient List<RuleEvaluator.Fired> fired;

    public void eval(
            Context ctx,
            @StateHint(ttl = "0 ms") RuleState state,
            @ArgumentHint(value = {ArgumentTrait.SET_SEMANTIC_TABLE}, name = "input") Row input,
            @ArgumentHint(name = "rules") String rulesSource,
            @ArgumentHint(name = "source_topic") String topic) {
        if (book == null) { // transient: null after the function is deserialized on a task
            names = org.apache.flink.table.types.DataType.getFieldNames(ctx.tableSemanticsFor("input").dataType());
            pairColumn = names.indexOf("pair");
            exchangeColumn = pairColumn >= 0 ? -1 : column("exchange");
            symbolColumn = pairColumn >= 0 ? -1 : column("symbol");
            intervalColumn = names.indexOf("interval");
            timeColumn = names.contains("event_time") ? column("event_time") : column("window_start");
            bound = new HashMap<>();
            fired = new ArrayList<>();
            book = RuleBook.acquire(rulesSource);
        }
        final RuleSet rules = book.current();
        if (rules != bookedSet) {
            bookedSet = rules;
            bound.clear();
        }
        final Long eventTime = (Long) input.getField(timeColumn);
        if (eventTime == null) {
            return; // never the case behind the source's contract check
        }
        final String source = intervalColumn < 0 ? topic : topic + ':' + input.getField(intervalColumn);
        final String key = pairColumn >= 0
                ? (String) input.getField(pairColumn)
                : input.getField(exchangeColumn) + ":" + input.getField(symbolColumn);
        Bound b = bound.get(source + '|' + key);
        if (b == null) {
            b = bind(pairColumn >= 0
                    ? rules.coveringPair(source, key)
                    : rules.covering(source, (String) input.getField(exchangeColumn),
                            (String) input.getField(symbolColumn)));
            bound.put(source + '|' + key, b);
        }
        if (b.rules.length == 0) {
            state.values = null;
            return;
        }
        for (int i = 0; i < b.rules.length; i++) {
            b.values[i] = b.columns[i] < 0 ? Double.NaN : value(input.getField(b.columns[i]));
        }
        final double[] s = RuleEvaluator.align(state.values, b.rules);
        fired.clear();
        RuleEvaluator.step(s, b.rules, b.values, eventTime, fired);
        state.values = s;
        for (RuleEvaluator.Fired f : fired) {
            final RuleSpec rule = b.rules[f.rule];
            collect(Row.of(rule.id, rule.version, rule.name, rule.severity, f.value, rule.threshold, f.start,
                    eventTime, text(rule, f.value, eventTime - f.start)));
        }
    }

    /** A metric's value: a number, or a decimal text (the trade bars' prices and volumes); NaN when missing. */
    static double value(Object v) {
        if (v == null) {
            return Double.NaN;
        }
        return v instanceof Number ? ((Number) v).doubleValue() : Double.parseDouble(v.toString());
    }

    @Override
    public void close() throws Exception {
        if (book != null) {
            RuleBook.release(book);
            book = null;
        }
        super.close();
    }

    private int column(String name) {
        final int k = names.indexOf(name);
        if (k < 0) {
            throw new IllegalArgumentException("RuleFunction needs an input column " + name + "; got " + names);
        }
        return k;
    }

    private Bound bind(RuleSpec[] rules) {
        final int[] columns = new int[rules.length];
        for (int i = 0; i < rules.length; i++) {
            columns[i] = names.indexOf(rules[i].metric);
        }
        return new Bound(rules, columns);
    }

    /** What the alert says after the symbol: which rule, the value against the threshold, how long. */
    static String text(RuleSpec rule, double value, long heldMs) {
        final StringBuilder out = new StringBuilder()
                .append("rule ").append(rule.id).append(" \"").append(rule.name).append("\": ")
                .append(rule.metric).append(' ').append(number(value)).append(' ')
                .append(RuleSpec.CONDITIONS[rule.condition]).append(' ').append(number(rule.threshold));
        if (rule.minDurationMs > 0) {
            out.append(" for ").append(number(heldMs / 1000.0)).append(" s");
        }
        return out.toString();
    }

    static String number(double v) {
        return new BigDecimal(v).round(new MathContext(6)).stripTrailingZeros().toPlainString();
    }
}
