package io.orderbookmonitor.flink;

import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.table.functions.TableSemantics;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.CallContext;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.logical.utils.LogicalTypeChecks;
import org.apache.flink.types.Row;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The stateful part of the metrics job, per `exchange:symbol`, in one keyed operator: order flow
 * imbalance against the previous update, imbalance velocity over a short window and the moments
 * (count, mean, standard deviation: {@link SlidingMoments}) of spread (bps) and imbalance over the
 * baseline window.
 *
 * <p>Why a function and not SQL OVER windows: Flink's event-time RANGE OVER operator scans every
 * timestamp it holds for the key on each update (about 600 for a 60 s baseline at 10 updates/s),
 * and each OVER stage is its own keyed exchange. Here the window is a log in keyed state (a map
 * from a per-key index to the entry) with a head index per window, so an update costs O(1)
 * amortized: append one entry, retract the ones that left the window.
 *
 * <p>Updates are processed in arrival order, which for one symbol is the exchange's sequence order
 * (the producer publishes one symbol's records in order on one partition). So a record is emitted
 * as soon as it arrives, not when the watermark passes it, and a late record is never dropped. A
 * record whose event time is older than the latest of its key counts at that latest time (the key's
 * clock never goes back), which keeps every window a contiguous run of the log. Call it without
 * {@code on_time}: Flink 2.2 silently drops the rows at or behind the watermark of a function
 * called with it, and this function's results never wait for the watermark.
 *
 * <p>Input: any table partitioned by the key, with `event_time` (BIGINT ms), `mid`, `spread_bps`,
 * `imbalance_N` (N = imbalance_level: the imbalance followed) and the top
 * `ofi_levels` levels as `flow_b_p1`, `flow_b_q1`, `flow_a_p1`, `flow_a_q1`, ... Output: every
 * input column except the partition keys, a time attribute and the `flow_` inputs, followed by
 * `ofi_1`, `ofi_m`, `imbalance_velocity` and the mean, standard deviation and z-score over the
 * baseline window of spread bps and of the followed imbalance (`spread_bps_mean`, ...,
 * `imbalance_z`).
 */
@DataTypeHint(value = "ROW<placeholder INT>", bridgedTo = RowData.class)
public class BookFlowFunction extends ProcessTableFunction<RowData> {

    private static final String FLOW_PREFIX = "flow_";
    private static final String[] FLOW_OUTPUTS = {
        "ofi_1",
        "ofi_m",
        "imbalance_velocity",
        "spread_bps_mean",
        "spread_bps_std",
        "spread_bps_z",
        "imbalance_mean",
        "imbalance_std",
        "imbalance_z"
    };
    // Below this a standard deviation is no dispersion worth a z-score (a window whose values
    // agree to 7 digits): z is NULL instead (docs/metrics.md).
    static final double STD_FLOOR_REL = 1e-7;
    static final double STD_FLOOR_ABS = 1e-12;

    /** Per-key scalars; the window entries live in the {@code log} map view. */
    public static class FlowState {
        /** Latest event time of the key (ms): the key's clock. */
        public long clock = Long.MIN_VALUE;
        /** Next log index to write. */
        public long next;
        /** Oldest log index inside the baseline window. */
        public long head;
        /** Oldest log index that may still be the first imbalance of the velocity window. */
        public long velocityHead;
        /** Oldest log index still stored. */
        public long tail;
        /** The entry at {@code head} (valid while head < next), so that a window that loses
         * nothing costs no state read. */
        public long headTime;
        public double headSpreadBps;
        public double headImbalance;
        /** Time and imbalance of the entry at {@code velocityHead} (valid while it is < next). */
        public long velocityTime;
        public double velocityImbalance;

        /** The baseline window's moments (NULLs left out): spread bps at 0, the followed
         * imbalance at {@link SlidingMoments#SIZE} (two {@link SlidingMoments} views). */
        public double[] moments = new double[2 * SlidingMoments.SIZE];
        /** Top levels of the previous update (b_p, b_q, a_p, a_q per level; NaN = no level). */
        public double[] previous;
    }

    /**
     * One update in the window log: effective time, spread bps and imbalance (NaN = NULL). Kept in
     * state as 24 bytes, not as this class: after each checkpoint the heap state backend copies a
     * key's map on its next write, and copying 600 structured values per key cost every key at
     * once a conversion per entry (p99 latency 80-400 ms with 10 s checkpoints; 28 ms without).
     */
    static final class Entry {
        final long time;
        final double spreadBps;
        final double imbalance;

        Entry(long time, double spreadBps, double imbalance) {
            this.time = time;
            this.spreadBps = spreadBps;
            this.imbalance = imbalance;
        }

        byte[] toBytes() {
            return ByteBuffer.allocate(24).putLong(time).putDouble(spreadBps).putDouble(imbalance).array();
        }

        static Entry fromBytes(byte[] bytes) {
            final ByteBuffer buffer = ByteBuffer.wrap(bytes);
            return new Entry(buffer.getLong(), buffer.getDouble(), buffer.getDouble());
        }
    }

    // Column positions, resolved from the input table on the first call.
    private transient int eventTimeCol;
    private transient int midCol;
    private transient int spreadCol;
    private transient int imbalanceCol;
    private transient int[] levelCols;
    private transient int[] passedCols;
    // The window's values when its moments are recomputed (rare: SlidingMoments.needsRecompute).
    private transient double[] recomputeBuffer;

    public void eval(
            Context ctx,
            @StateHint(ttl = "0 ms") FlowState state,
            @StateHint(ttl = "0 ms") MapView<Long, byte[]> log,
            @ArgumentHint(value = ArgumentTrait.SET_SEMANTIC_TABLE, name = "input") Row input,
            @ArgumentHint(name = "ofi_levels") Integer ofiLevels,
            @ArgumentHint(name = "imbalance_level") Integer imbalanceLevel,
            @ArgumentHint(name = "velocity_window_ms") Long velocityWindowMs,
            @ArgumentHint(name = "baseline_window_ms") Long baselineWindowMs)
            throws Exception {
        if (passedCols == null) { // transient: null after the function is deserialized on a task
            resolveColumns(ctx.tableSemanticsFor("input"), ofiLevels, imbalanceLevel);
        }
        final Long eventTimeField = (Long) input.getField(eventTimeCol);
        if (eventTimeField == null) {
            return; // no place in any window; never the case behind the source's contract check
        }
        final long eventTime = eventTimeField;
        final long now = Math.max(state.clock, eventTime);
        state.clock = now;
        final boolean hasMid = input.getField(midCol) != null;

        // order flow imbalance against the previous update of the key (Cont, Kukanov, Stoikov)
        final double[] levels = new double[levelCols.length];
        for (int k = 0; k < levelCols.length; k++) {
            levels[k] = orNaN(input.getField(levelCols[k]));
        }
        Double ofi1 = null;
        Double ofiM = null;
        if (state.previous != null && hasMid) {
            double sum = 0;
            for (int level = 0; level < ofiLevels; level++) {
                final double e = flowAtLevel(levels, state.previous, level);
                if (level == 0) {
                    ofi1 = e;
                }
                sum += e;
            }
            ofiM = sum;
        }
        state.previous = levels;

        // the window log: append this update, retract what left the windows
        final double spread = hasMid ? orNaN(input.getField(spreadCol)) : Double.NaN;
        final double imbalance = orNaN(input.getField(imbalanceCol));
        final Entry current = new Entry(now, spread, imbalance);
        log.put(state.next, current.toBytes());
        if (state.head == state.next) { // the baseline window was empty
            cacheHead(state, current);
        }
        if (state.velocityHead == state.next) {
            state.velocityTime = now;
            state.velocityImbalance = imbalance;
        }
        state.next++;
        final SlidingMoments spreadMoments = new SlidingMoments(state.moments, 0);
        final SlidingMoments imbalanceMoments = new SlidingMoments(state.moments, SlidingMoments.SIZE);
        if (!Double.isNaN(spread)) {
            spreadMoments.add(spread);
        }
        if (!Double.isNaN(imbalance)) {
            imbalanceMoments.add(imbalance);
        }
        final long baselineStart = now - baselineWindowMs;
        while (state.head < state.next && state.headTime < baselineStart) {
            if (!Double.isNaN(state.headSpreadBps)) {
                spreadMoments.remove(state.headSpreadBps);
            }
            if (!Double.isNaN(state.headImbalance)) {
                imbalanceMoments.remove(state.headImbalance);
            }
            state.head++;
            if (state.head < state.next) {
                cacheHead(state, entryAt(log, state, state.head, current));
            }
        }
        // the first update of the velocity window with an imbalance (updates without one are
        // passed for good: the window's start only moves forward)
        final long velocityStart = now - velocityWindowMs;
        while (state.velocityHead < state.next
                && (state.velocityTime < velocityStart || Double.isNaN(state.velocityImbalance))) {
            state.velocityHead++;
            if (state.velocityHead < state.next) {
                final Entry candidate = entryAt(log, state, state.velocityHead, current);
                state.velocityTime = candidate.time;
                state.velocityImbalance = candidate.imbalance;
            }
        }
        if (spreadMoments.needsRecompute()) {
            recompute(log, state, current, spreadMoments, true);
        }
        if (imbalanceMoments.needsRecompute()) {
            recompute(log, state, current, imbalanceMoments, false);
        }
        final long keep = Math.min(state.head, state.velocityHead);
        while (state.tail < keep) {
            log.remove(state.tail);
            state.tail++;
        }
        Double velocity = null;
        if (state.velocityHead < state.next && !Double.isNaN(imbalance) && now > state.velocityTime) {
            velocity = (imbalance - state.velocityImbalance) / ((double) (now - state.velocityTime) / 1000);
        }

        final GenericRowData out = new GenericRowData(passedCols.length + FLOW_OUTPUTS.length);
        int pos = 0;
        for (int col : passedCols) {
            final Object value = input.getField(col);
            out.setField(pos++, value instanceof String ? StringData.fromString((String) value) : value);
        }
        out.setField(pos++, ofi1);
        out.setField(pos++, ofiM);
        out.setField(pos++, velocity);
        pos = setStats(out, pos, spreadMoments, spread);
        setStats(out, pos, imbalanceMoments, imbalance);
        collect(out);
    }

    /** (b - a) / (b + a) of the followed sizes, NaN when undefined (as SQL gives NULL). */
    private static double orNaN(Object value) {
        return value == null ? Double.NaN : (Double) value;
    }

    /**
     * e_n at one level: bid side q if the bid price rose or held, minus the previous q if it fell
     * or held; the ask side mirrored. A side whose level is missing in either book adds 0.
     */
    static double flowAtLevel(double[] cur, double[] prev, int level) {
        final int o = level * 4;
        final double pb = cur[o], qb = cur[o + 1], pa = cur[o + 2], qa = cur[o + 3];
        final double ppb = prev[o], pqb = prev[o + 1], ppa = prev[o + 2], pqa = prev[o + 3];
        double e = 0;
        e += pb >= ppb ? qb : 0;
        e -= pb <= ppb ? pqb : 0;
        e -= pa <= ppa ? qa : 0;
        e += pa >= ppa ? pqa : 0;
        return e;
    }

    /**
     * Mean, population standard deviation and z-score of the current value over the window; z is
     * NULL when std ≤ 1e-7·|mean| + 1e-12 (no dispersion worth a z-score), or when there is no
     * current value.
     */
    private static int setStats(GenericRowData out, int pos, SlidingMoments moments, double x) {
        if (moments.count() == 0) {
            out.setField(pos, null);
            out.setField(pos + 1, null);
            out.setField(pos + 2, null);
            return pos + 3;
        }
        final double mean = moments.mean();
        final double std = moments.std();
        final boolean dispersed = std > STD_FLOOR_REL * Math.abs(mean) + STD_FLOOR_ABS;
        out.setField(pos, mean);
        out.setField(pos + 1, std);
        out.setField(pos + 2, dispersed && !Double.isNaN(x) ? moments.deviation(x) / std : null);
        return pos + 3;
    }

    /** The moments of one series from the baseline window's entries in the log (head..next-1). */
    private void recompute(
            MapView<Long, byte[]> log, FlowState state, Entry current, SlidingMoments moments, boolean spread)
            throws Exception {
        final int size = (int) (state.next - state.head);
        if (recomputeBuffer == null || recomputeBuffer.length < size) {
            recomputeBuffer = new double[size];
        }
        int n = 0;
        for (long index = state.head; index < state.next; index++) {
            final Entry entry = entryAt(log, state, index, current);
            final double value = spread ? entry.spreadBps : entry.imbalance;
            if (!Double.isNaN(value)) {
                recomputeBuffer[n++] = value;
            }
        }
        moments.recompute(recomputeBuffer, n);
    }

    private static void cacheHead(FlowState state, Entry entry) {
        state.headTime = entry.time;
        state.headSpreadBps = entry.spreadBps;
        state.headImbalance = entry.imbalance;
    }

    /** The log entry at {@code index}; the current update without a state read. */
    private static Entry entryAt(MapView<Long, byte[]> log, FlowState state, long index, Entry current)
            throws Exception {
        return index == state.next - 1 ? current : Entry.fromBytes(log.get(index));
    }

    private void resolveColumns(TableSemantics semantics, int ofiLevels, int imbalanceLevel) {
        final DataType type = semantics.dataType();
        final List<String> names = DataType.getFieldNames(type);
        midCol = required(names, "mid");
        spreadCol = required(names, "spread_bps");
        imbalanceCol = required(names, "imbalance_" + imbalanceLevel);
        levelCols = new int[ofiLevels * 4];
        for (int level = 0; level < ofiLevels; level++) {
            int k = level * 4;
            for (String side : new String[] {"b_p", "b_q", "a_p", "a_q"}) {
                levelCols[k++] = required(names, FLOW_PREFIX + side + (level + 1));
            }
        }
        passedCols = passedColumns(semantics);
        eventTimeCol = required(names, "event_time");
    }

    private static int required(List<String> names, String name) {
        final int pos = names.indexOf(name);
        if (pos < 0) {
            throw new IllegalArgumentException("BookFlowFunction needs an input column " + name + "; got " + names);
        }
        return pos;
    }

    /** Input columns passed on: all but the partition keys, the time column and the flow_ inputs. */
    private static int[] passedColumns(TableSemantics semantics) {
        final List<String> names = DataType.getFieldNames(semantics.dataType());
        final List<DataType> types = DataType.getFieldDataTypes(semantics.dataType());
        final List<Integer> keys = new ArrayList<>();
        for (int k : semantics.partitionByColumns()) {
            keys.add(k);
        }
        final List<Integer> passed = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            // the time column: by position at run time, by its rowtime type while planning
            final boolean time =
                    i == semantics.timeColumn() || LogicalTypeChecks.isRowtimeAttribute(types.get(i).getLogicalType());
            if (!keys.contains(i) && !time && !names.get(i).startsWith(FLOW_PREFIX)) {
                passed.add(i);
            }
        }
        return passed.stream().mapToInt(Integer::intValue).toArray();
    }

    private static Optional<DataType> outputType(CallContext call) {
        final Optional<TableSemantics> semantics = call.getTableSemantics(0);
        if (semantics.isEmpty()) {
            return Optional.empty();
        }
        final DataType input = semantics.get().dataType();
        final List<String> names = DataType.getFieldNames(input);
        final List<DataType> types = DataType.getFieldDataTypes(input);
        final List<DataTypes.Field> fields = new ArrayList<>();
        for (int i : passedColumns(semantics.get())) {
            fields.add(DataTypes.FIELD(names.get(i), types.get(i)));
        }
        for (String name : FLOW_OUTPUTS) {
            fields.add(DataTypes.FIELD(name, DataTypes.DOUBLE()));
        }
        return Optional.of(DataTypes.ROW(fields).bridgedTo(RowData.class));
    }

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        final TypeInference extracted = super.getTypeInference(typeFactory);
        final TypeInference.Builder builder =
                TypeInference.newBuilder()
                        .inputTypeStrategy(extracted.getInputTypeStrategy())
                        .stateTypeStrategies(extracted.getStateTypeStrategies())
                        .outputTypeStrategy(BookFlowFunction::outputType);
        extracted.getStaticArguments().ifPresent(builder::staticArguments);
        return builder.build();
    }

    @Override
    public String toString() {
        return "BookFlowFunction" + Arrays.toString(FLOW_OUTPUTS);
    }
}
