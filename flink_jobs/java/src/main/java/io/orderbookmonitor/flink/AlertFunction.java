package io.orderbookmonitor.flink;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.ListView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.types.Row;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;

/**
 * The alerts job in one keyed operator: every alert rule, the cooldown and the alert of each
 * update of a key (partitioned by exchange, market, symbol), on state it keeps per key
 * ({@link AlertDetector}: one primitive array). Called from SQL (flink_jobs/alerts.py) with
 * {@code on_time} and the rules as JSON ({@link AlertRules}).
 *
 * <p>The state is three entries: the detector's array (a list view of one element), the updates
 * that arrived since the last release (a list view, one {@code ROW} array each, in arrival order)
 * and a small value ({@link AlertState}: the rules' hash, the timer and the earliest waiting
 * update). Why: after every call Flink hashes a value state before and after the call to see
 * whether to write it (ProcessTableRunner.moveValueStateFromFunction); with the detector's array
 * (the adaptive baselines' histograms and every waiting update, a few hundred to a few thousand
 * doubles) as the value state, that hashing was 70% of the operator thread at 15k updates/s
 * (docs/benchmarks.md, issue 21). List views are Flink list states, never converted whole nor
 * hashed: an update is one small element added; the detector's array is read and written only at
 * a release, where the updates that arrived are merged into it in (event time, arrival) order,
 * the order in which {@link AlertDetector#insert} put them one by one before.
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

    /**
     * A key's small state: the hash of the rules its detector's array was set up with (null: not
     * yet in this job: new key or restored), the time of its release timer and of its earliest
     * waiting update (null: none).
     */
    public static class AlertState {
        public Integer rules;
        public Long timer;
        public Long earliest;
    }

    private transient String rulesJson;
    private transient AlertRules rules;
    private transient AlertDetector detector;
    private transient List<AlertDetector.Alert> raised;
    private transient int[] columns;

    public void eval(
            Context ctx,
            @StateHint(ttl = "0 ms") AlertState state,
            @StateHint(ttl = "0 ms") ListView<double[]> detectorState,
            @StateHint(ttl = "0 ms") ListView<double[]> arrived,
            @ArgumentHint(
                            value = {ArgumentTrait.SET_SEMANTIC_TABLE, ArgumentTrait.REQUIRE_ON_TIME},
                            name = "input")
                    Row input,
            @ArgumentHint(name = "rules") String rulesArgument)
            throws Exception {
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
        final int ownHash = Arrays.hashCode(own);
        if (state.rules == null || state.rules != ownHash) {
            double[] s = first(detectorState);
            if (s == null || s[AlertRules.ADAPTIVE] != own[AlertRules.ADAPTIVE]) {
                s = AlertDetector.empty(own); // a new key, or a redeploy with the other profile: it starts over
                arrived.clear();
                state.timer = null;
            } else {
                s = merge(s, arrived); // a redeploy with new rules applies them from here
                System.arraycopy(own, 0, s, 0, AlertRules.SIZE);
            }
            state.earliest = AlertDetector.pending(s) > 0 ? AlertDetector.earliest(s) : null;
            write(detectorState, s);
            state.rules = ownHash;
        }
        final double[] row = new double[AlertDetector.ROW];
        row[0] = eventTime;
        for (int k = 1; k < row.length; k++) {
            row[k] = orNaN(input.getField(columns[1 + k]));
        }
        arrived.add(row);
        if (state.earliest == null || eventTime < state.earliest) {
            state.earliest = eventTime;
        }
        schedule(time, state);
    }

    public void onTimer(
            OnTimerContext ctx, AlertState state, ListView<double[]> detectorState, ListView<double[]> arrived)
            throws Exception {
        double[] s = first(detectorState);
        if (s == null) {
            return;
        }
        if (detector == null) {
            detector = new AlertDetector();
            raised = new ArrayList<>();
        }
        final TimeContext<Long> time = ctx.timeContext(Long.class);
        final Long watermark = time.currentWatermark();
        raised.clear();
        s = detector.release(merge(s, arrived), watermark != null ? watermark : time.time(), raised);
        write(detectorState, s);
        if (AlertDetector.pending(s) > 0) {
            state.earliest = AlertDetector.earliest(s);
            schedule(time, state);
        } else {
            state.earliest = null;
            state.timer = null;
        }
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
    private static void schedule(TimeContext<Long> time, AlertState state) {
        final long earliest = state.earliest;
        if (state.timer == null || state.timer != earliest) {
            time.registerOnTime(earliest);
            state.timer = earliest;
        }
    }

    private static double[] first(ListView<double[]> view) throws Exception {
        final Iterator<double[]> it = view.get().iterator();
        return it.hasNext() ? it.next() : null;
    }

    private static void write(ListView<double[]> view, double[] s) throws Exception {
        view.clear();
        view.add(s);
    }

    /**
     * The detector's array with the updates that arrived (then emptied) among its waiting ones, in
     * (event time, arrival) order: each after those at or before its time, as {@link
     * AlertDetector#insert} puts one.
     */
    static double[] merge(double[] s, ListView<double[]> arrived) throws Exception {
        final List<double[]> rows = new ArrayList<>();
        for (double[] row : arrived.get()) {
            rows.add(row);
        }
        if (rows.isEmpty()) {
            return s;
        }
        arrived.clear();
        return merge(s, rows);
    }

    /** {@link #merge(double[], ListView)} of rows in arrival order (pure: tested). */
    static double[] merge(double[] s, List<double[]> rows) {
        final int row = AlertDetector.ROW;
        final List<double[]> sorted = new ArrayList<>(rows);
        sorted.sort((a, b) -> Double.compare(a[0], b[0])); // stable: arrival order within a time
        final int n = AlertDetector.pending(s);
        final int base = AlertDetector.base(s);
        final double[] out = new double[s.length + sorted.size() * row];
        System.arraycopy(s, 0, out, 0, base);
        int i = 0;
        int j = 0;
        int at = base;
        while (i < n || j < sorted.size()) {
            if (j == sorted.size() || (i < n && s[base + i * row] <= sorted.get(j)[0])) {
                System.arraycopy(s, base + i * row, out, at, row);
                i++;
            } else {
                System.arraycopy(sorted.get(j), 0, out, at, row);
                j++;
            }
            at += row;
        }
        System.arraycopy(s, base + n * row, out, at, s.length - base - n * row);
        out[AlertDetector.PENDING] = n + sorted.size();
        return out;
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
