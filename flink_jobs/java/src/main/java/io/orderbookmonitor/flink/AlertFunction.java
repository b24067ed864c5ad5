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
 * <p>Input columns: {@code event_time} (BIGINT ms), {@code imb} (the followed imbalance),
 * {@code imbalance_velocity}, {@code spread_bps_mean}, the book ({@link #BOOK_FIELDS}; NULL: none),
 * and the partition keys, of which {@code symbol} picks the rules (profile seed or adaptive,
 * {@link AlertRules}). Output: per alert raised, its type, severity, metric value, threshold,
 * window start and end, event time (= end), its text after the symbol ({@link AlertText}) and its
 * context (the orderbook.alerts field, schemas/__init__.py); the SQL builds the id and the message.
 */
@DataTypeHint(
        "ROW<alert_type STRING, severity STRING, metric_value DOUBLE, threshold DOUBLE, window_start BIGINT,"
                + " window_end BIGINT, event_time BIGINT, text STRING, context ROW<profile STRING, score DOUBLE,"
                + " `value` DOUBLE, baseline_mean DOUBLE, baseline_std DOUBLE, percentile DOUBLE, baseline_rms DOUBLE,"
                + " depth_notional_10bps DOUBLE, book ROW<mid DOUBLE, best_bid DOUBLE, best_ask DOUBLE,"
                + " best_bid_size DOUBLE, best_ask_size DOUBLE, spread_bps DOUBLE, depth_bid_10bps DOUBLE,"
                + " depth_ask_10bps DOUBLE, depth_bid_50bps DOUBLE, depth_ask_50bps DOUBLE>>>")
public class AlertFunction extends ProcessTableFunction<Row> {

    /** The book columns of the input, in the order of the rows' book and the context's book. */
    static final String[] BOOK_FIELDS = {
        "mid", "best_bid", "best_ask", "best_bid_size", "best_ask_size", "spread_bps", "depth_bid_10bps",
        "depth_ask_10bps", "depth_bid_50bps", "depth_ask_50bps"
    };

    /** A key's state: {@link AlertDetector}'s layout. */
    public static class AlertState {
        public double[] values;
    }

    private transient String rulesJson;
    private transient AlertRules rules;
    private transient AlertDetector detector;
    private transient List<AlertDetector.Alert> raised;
    private transient int[] columns;
    private transient double[] values;

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
        final double[] own = rules.forSymbol((String) input.getField(columns[1]));
        double[] s = state.values;
        if (s == null || s[AlertRules.ADAPTIVE] != own[AlertRules.ADAPTIVE]) {
            s = AlertDetector.empty(own); // a new key, or a redeploy with the other profile: it starts over
        } else {
            System.arraycopy(own, 0, s, 0, AlertRules.SIZE); // a redeploy with new rules applies them
        }
        if (values == null) {
            values = new double[AlertDetector.ROW - 1];
        }
        for (int k = 0; k < values.length; k++) {
            values[k] = orNaN(input.getField(columns[2 + k]));
        }
        s = AlertDetector.insert(s, eventTime, values);
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
                            AlertText.of(alert),
                            context(alert)));
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

    /** The alert's context row (NaN as NULL), as the orderbook.alerts schema has it. */
    private static Row context(AlertDetector.Alert alert) {
        final double[] c = alert.context;
        final Object[] book = new Object[AlertDetector.BOOK_SIZE];
        for (int k = 0; k < book.length; k++) {
            book[k] = orNull(c[AlertDetector.CONTEXT_VALUES + k]);
        }
        return Row.of(
                alert.adaptive ? "adaptive" : "seed", alert.metric, orNull(c[0]), orNull(c[1]), orNull(c[2]),
                orNull(c[3]), orNull(c[4]), orNull(c[5]), Row.of(book));
    }

    private static Double orNull(double value) {
        return Double.isNaN(value) ? null : value;
    }

    private static double orNaN(Object value) {
        return value == null ? Double.NaN : (Double) value;
    }

    private static int[] resolveColumns(DataType type) {
        final List<String> names = DataType.getFieldNames(type);
        final List<String> wanted = new ArrayList<>(List.of("event_time", "symbol", "imb", "imbalance_velocity",
                "spread_bps_mean"));
        wanted.addAll(List.of(BOOK_FIELDS));
        final int[] out = new int[wanted.size()];
        for (int k = 0; k < out.length; k++) {
            out[k] = names.indexOf(wanted.get(k));
            if (out[k] < 0) {
                throw new IllegalArgumentException("AlertFunction needs an input column " + wanted.get(k) + "; got " + names);
            }
        }
        return out;
    }
}
