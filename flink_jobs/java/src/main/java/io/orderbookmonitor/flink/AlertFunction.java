package io.orderbookmonitor.flink;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.types.Row;

import java.util.ArrayList;
import java.util.List;

/**
 * The alerts job in one keyed operator: every alert rule, the cooldown and the alert of each
 * update of a key (partitioned by exchange, market, symbol), on state it keeps per key
 * ({@link AlertDetector}: one primitive array). Called from SQL (flink_jobs/alerts.py) with
 * {@code on_time} and the rules as JSON ({@link AlertRules}).
 *
 * <p>Why one operator: the SQL job (two OVER stages, MATCH_RECOGNIZE per rule, a keyed Python
 * cooldown) sent every update through a keyed exchange per stage and topped out near 2k updates/s
 * per slot (docs/benchmarks.md, alerts job).
 *
 * <p>Event time as the SQL job had it: an update waits in the state until the watermark passes it
 * (one timer per key, at its earliest waiting update), then the updates the watermark passed are
 * processed in (event time, arrival) order; an update at or behind the watermark when it arrives
 * is late and dropped, as the OVER windows and MATCH_RECOGNIZE dropped it. When the input stops,
 * the last watermark fires the timers and decides every alert it passed.
 *
 * <p>Input columns: {@code event_time} (BIGINT ms), {@code imb} (the followed imbalance, 0 for
 * none), {@code imbalance_velocity}, {@code spread_bps}, {@code spread_bps_mean} (NULL: none), and
 * the partition keys, of which {@code symbol} picks the rules. Output: per alert raised, its type,
 * severity, metric value, threshold, window start and end, event time (= end) and its text after
 * the symbol ({@link AlertText}); the SQL builds the id and the message.
 */
@DataTypeHint(
        "ROW<alert_type STRING, severity STRING, metric_value DOUBLE, threshold DOUBLE, window_start BIGINT,"
                + " window_end BIGINT, event_time BIGINT, text STRING>")
public class AlertFunction extends ProcessTableFunction<Row> {

    /** A key's state: {@link AlertDetector}'s layout. */
    public static class AlertState {
        public double[] values;
    }

    private transient String rulesJson;
    private transient AlertRules rules;
    private transient AlertDetector detector;
    private transient List<AlertDetector.Alert> raised;
    private transient int[] columns;

    public void eval(
            Context ctx,
            @StateHint(ttl = "0 ms") AlertState state,
            @ArgumentHint(
                            value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME},
                            name = "input")
                    Row input,
            @ArgumentHint(name = "rules") String rulesArgument) {
        if (columns == null) { // transient: null after the function is deserialized on a task
            columns = resolveColumns(ctx.tableSemanticsFor("input").dataType());
        }
        if (!rulesArgument.equals(rulesJson)) {
            rules = AlertRules.parse(rulesArgument);
            rulesJson = rulesArgument;
        }
        final Long eventTime = (Long) input.getField(columns[0]);
        if (eventTime == null) {
            return; // never the case behind the source's contract check
        }
        final TimeContext<Long> time = ctx.timeContext(Long.class);
        final Long watermark = time.currentWatermark();
        if (watermark != null && eventTime <= watermark) {
            return; // late: see the class comment
        }
        final double[] own = rules.forSymbol((String) input.getField(columns[5]));
        double[] s = state.values;
        if (s == null) {
            s = AlertDetector.empty(own);
        } else {
            System.arraycopy(own, 0, s, 0, AlertRules.SIZE); // a redeploy with new rules applies them
        }
        s = AlertDetector.insert(
                s, eventTime, orNaN(input.getField(columns[1])), orNaN(input.getField(columns[2])),
                orNaN(input.getField(columns[3])), orNaN(input.getField(columns[4])));
        schedule(time, s);
        state.values = s;
    }

    public void onTimer(OnTimerContext ctx, AlertState state) {
        if (state.values == null) {
            return;
        }
        if (detector == null) {
            detector = new AlertDetector();
            raised = new ArrayList<>();
        }
        final TimeContext<Long> time = ctx.timeContext(Long.class);
        final Long watermark = time.currentWatermark();
        raised.clear();
        final double[] s = detector.release(state.values, watermark != null ? watermark : time.time(), raised);
        if (AlertDetector.pending(s) > 0) {
            schedule(time, s);
        } else {
            s[AlertDetector.TIMER] = Double.NaN;
        }
        state.values = s;
        for (AlertDetector.Alert alert : raised) {
            collect(
                    Row.of(
                            AlertDetector.TYPES.get(alert.type),
                            AlertDetector.SEVERITY[alert.rank],
                            alert.metric,
                            alert.threshold,
                            alert.start,
                            alert.end,
                            alert.end,
                            AlertText.of(alert)));
        }
    }

    /** A timer at the earliest waiting update unless one is set for it (one per time). */
    private static void schedule(TimeContext<Long> time, double[] s) {
        final long earliest = AlertDetector.earliest(s);
        if (s[AlertDetector.TIMER] != earliest) {
            time.registerOnTime(earliest);
            s[AlertDetector.TIMER] = earliest;
        }
    }

    private static double orNaN(Object value) {
        return value == null ? Double.NaN : (Double) value;
    }

    private static int[] resolveColumns(DataType type) {
        final List<String> names = DataType.getFieldNames(type);
        final String[] wanted = {"event_time", "imb", "imbalance_velocity", "spread_bps", "spread_bps_mean", "symbol"};
        final int[] out = new int[wanted.length];
        for (int k = 0; k < wanted.length; k++) {
            out[k] = names.indexOf(wanted[k]);
            if (out[k] < 0) {
                throw new IllegalArgumentException("AlertFunction needs an input column " + wanted[k] + "; got " + names);
            }
        }
        return out;
    }
}
