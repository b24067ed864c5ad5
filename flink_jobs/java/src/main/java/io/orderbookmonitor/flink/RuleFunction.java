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
 * The user rules job in one keyed operator: every live rule that covers a book, evaluated on each
 * of its records ({@link RuleEvaluator}, state: one primitive array per key), partitioned by
 * exchange, market and symbol. Called from SQL (flink_jobs/user_rules.py) with the rules source
 * ({@link RuleBook}): a change to the rules reaches the running job within a poll of the topic,
 * without a redeploy.
 *
 * <p>Input: the columns of orderbook.processed (a rule's metric is a column by name; a rule naming
 * a column the input lacks never fires). Output: per alert, the rule's id, version, severity,
 * metric value, threshold, episode start, the event time and its text after the symbol.
 */
@DataTypeHint(
        "ROW<rule_id BIGINT, rule_version BIGINT, severity STRING, metric_value DOUBLE, threshold DOUBLE,"
                + " window_start BIGINT, window_end BIGINT, text STRING>")
public class RuleFunction extends ProcessTableFunction<Row> {

    /** A key's state: {@link RuleEvaluator}'s layout. */
    public static class RuleState {
        public double[] values;
    }

    /** The rules covering one book and the input column of each one's metric. */
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
    private transient int[] keyColumns;
    private transient List<RuleEvaluator.Fired> fired;

    public void eval(
            Context ctx,
            @StateHint(ttl = "0 ms") RuleState state,
            @ArgumentHint(value = {ArgumentTrait.SET_SEMANTIC_TABLE}, name = "input") Row input,
            @ArgumentHint(name = "rules") String rulesSource) {
        if (book == null) { // transient: null after the function is deserialized on a task
            names = org.apache.flink.table.types.DataType.getFieldNames(ctx.tableSemanticsFor("input").dataType());
            keyColumns = new int[] {column("exchange"), column("symbol"), column("event_time")};
            bound = new HashMap<>();
            fired = new ArrayList<>();
            book = RuleBook.acquire(rulesSource);
        }
        final RuleSet rules = book.current();
        if (rules != bookedSet) {
            bookedSet = rules;
            bound.clear();
        }
        final String exchange = (String) input.getField(keyColumns[0]);
        final String symbol = (String) input.getField(keyColumns[1]);
        final Long eventTime = (Long) input.getField(keyColumns[2]);
        if (eventTime == null) {
            return; // never the case behind the source's contract check
        }
        Bound b = bound.get(exchange + ':' + symbol);
        if (b == null) {
            b = bind(rules.covering(exchange, symbol));
            bound.put(exchange + ':' + symbol, b);
        }
        if (b.rules.length == 0) {
            state.values = null;
            return;
        }
        for (int i = 0; i < b.rules.length; i++) {
            final Object v = b.columns[i] < 0 ? null : input.getField(b.columns[i]);
            b.values[i] = v == null ? Double.NaN : ((Number) v).doubleValue();
        }
        final double[] s = RuleEvaluator.align(state.values, b.rules);
        fired.clear();
        RuleEvaluator.step(s, b.rules, b.values, eventTime, fired);
        state.values = s;
        for (RuleEvaluator.Fired f : fired) {
            final RuleSpec rule = b.rules[f.rule];
            collect(Row.of(rule.id, rule.version, rule.severity, f.value, rule.threshold, f.start, eventTime,
                    text(rule, f.value, eventTime - f.start)));
        }
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
