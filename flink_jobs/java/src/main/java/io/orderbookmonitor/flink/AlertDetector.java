package io.orderbookmonitor.flink;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Every alert rule of docs/metrics.md (Alerts) on the updates of one key, in event-time order: the
 * episodes of each rule, their confirmation, and the cooldown between the alerts of one type. Pure
 * logic over one {@code double[]} (the key's state in {@link AlertFunction}, as one primitive array
 * because Flink converts a structured state value field by field on every call):
 *
 * <pre>[rules (AlertRules.SIZE)][header][pending updates, ROW each][flip starts, 2 each]</pre>
 *
 * <p>Updates wait in the state until the watermark passes them ({@link #insert}), then are
 * processed in (event time, arrival) order ({@link #release}): the order in which the SQL job's
 * OVER windows and MATCH_RECOGNIZE saw them, so the same episodes, candidates and decisions.
 *
 * <ul>
 *   <li>imbalance_extreme, per severity: the hysteresis state is the code of the last update outside
 *       the band on each side (1 at or above the enter threshold, 0 below the clear one); an episode
 *       starts where the state becomes ±1 and is confirmed at the first update of the same state at
 *       least the minimum duration after its start, at most that plus {@link #GRACE_MS}.
 *   <li>imbalance_flip: the extremes (|I| ≥ T) of one sign since the last extreme of the other sign
 *       are the open starts; an update at or beyond −T of that sign ends them all and raises the
 *       earliest start at most the flip window before it; it is itself the next start.
 *   <li>spread_widening: as an extreme episode, on spread ≥ k · mean.
 *   <li>velocity_spike: the first update of a run with |v| ≥ V.
 * </ul>
 *
 * Candidates of one release are decided in (event time, severity descending, start) order: an
 * alert is raised unless one of the same type was raised less than the cooldown before it at the
 * same or a higher severity.
 */
final class AlertDetector {

    static final List<String> TYPES = List.of("imbalance_extreme", "imbalance_flip", "spread_widening", "velocity_spike");
    static final int EXTREME = 0;
    static final int FLIP = 1;
    static final int SPREAD = 2;
    static final int VELOCITY = 3;
    static final String[] SEVERITY = {null, "low", "medium", "high"};
    static final int MEDIUM_RANK = 2;
    static final int HIGH_RANK = 3;
    /** A confirmation must come at most this long after the minimum duration. */
    static final long GRACE_MS = 60_000;

    // header slots, after the rules
    static final int PENDING = AlertRules.SIZE;
    static final int FLIPS = PENDING + 1;
    static final int FLIP_SIGN = FLIPS + 1;
    /** Per severity (medium, high): last code above, last code below, previous state, episode start. */
    static final int EXTREMES = FLIP_SIGN + 1;
    static final int SPREAD_ON = EXTREMES + 8;
    static final int SPREAD_START = SPREAD_ON + 1;
    static final int VELOCITY_ON = SPREAD_START + 1;
    /** Per alert type: event time and severity rank of the last alert raised (NaN: none). */
    static final int COOLDOWN = VELOCITY_ON + 1;
    /** The time of the key's release timer (NaN: none registered). */
    static final int TIMER = COOLDOWN + 2 * 4;
    static final int HEADER = TIMER + 1;
    /** A pending update: event time, imbalance (0 for none), velocity, spread bps, its mean (NaN: none). */
    static final int ROW = 5;

    /** One alert raised: what AlertFunction emits. */
    static final class Alert {
        final int type;
        final int rank;
        final long start;
        final long end;
        final double metric;
        final double threshold;
        /** The imbalance level (extreme), the first extreme (flip), the spread (widening). */
        final double detail;

        Alert(int type, int rank, long start, long end, double metric, double threshold, double detail) {
            this.type = type;
            this.rank = rank;
            this.start = start;
            this.end = end;
            this.metric = metric;
            this.threshold = threshold;
            this.detail = detail;
        }

        @Override
        public String toString() {
            return TYPES.get(type) + ":" + SEVERITY[rank] + ":" + start + "-" + end + ":" + metric;
        }
    }

    private static final Comparator<Alert> DECISION_ORDER =
            Comparator.<Alert>comparingLong(a -> a.end).thenComparingInt(a -> -a.rank).thenComparingLong(a -> a.start);

    private final List<Alert> candidates = new ArrayList<>();
    private double[] flips = new double[32];

    /** A new key's state. */
    static double[] empty(double[] rules) {
        final double[] state = new double[HEADER];
        System.arraycopy(rules, 0, state, 0, AlertRules.SIZE);
        for (int severity = 0; severity < 2; severity++) {
            state[EXTREMES + 4 * severity + 3] = Double.NaN;
        }
        state[SPREAD_START] = Double.NaN;
        for (int type = 0; type < 4; type++) {
            state[COOLDOWN + 2 * type] = Double.NaN;
        }
        state[TIMER] = Double.NaN;
        return state;
    }

    static int pending(double[] state) {
        return (int) state[PENDING];
    }

    /** Event time of the earliest pending update (call only when there is one). */
    static long earliest(double[] state) {
        return (long) state[HEADER];
    }

    /** The state with one more pending update, after those at or before its time (arrival order). */
    static double[] insert(double[] state, long time, double imbalance, double velocity, double spread, double mean) {
        final int n = pending(state);
        int at = n;
        while (at > 0 && state[HEADER + (at - 1) * ROW] > time) {
            at--;
        }
        final double[] out = new double[state.length + ROW];
        final int split = HEADER + at * ROW;
        System.arraycopy(state, 0, out, 0, split);
        out[split] = time;
        out[split + 1] = imbalance;
        out[split + 2] = velocity;
        out[split + 3] = spread;
        out[split + 4] = mean;
        System.arraycopy(state, split, out, split + ROW, state.length - split);
        out[PENDING] = n + 1;
        return out;
    }

    /**
     * Processes the pending updates at or before {@code upTo} in order, adds the alerts they raise
     * to {@code raised} (in decision order) and returns the new state.
     */
    double[] release(double[] state, long upTo, List<Alert> raised) {
        final int n = pending(state);
        int due = 0;
        while (due < n && state[HEADER + due * ROW] <= upTo) {
            due++;
        }
        if (due == 0) {
            return state;
        }
        // the flip starts into a working copy (they change length as updates are processed)
        final int flipBase = HEADER + n * ROW;
        int flipCount = (int) state[FLIPS];
        if (flips.length < 2 * flipCount + 2) {
            flips = new double[2 * (flipCount + 1) * 2];
        }
        System.arraycopy(state, flipBase, flips, 0, 2 * flipCount);
        candidates.clear();
        for (int k = 0; k < due; k++) {
            final int o = HEADER + k * ROW;
            flipCount = update(state, (long) state[o], state[o + 1], state[o + 2], state[o + 3], state[o + 4], flipCount);
        }
        decide(state, raised);
        final int left = n - due;
        final double[] out = new double[HEADER + left * ROW + 2 * flipCount];
        System.arraycopy(state, 0, out, 0, HEADER);
        System.arraycopy(state, HEADER + due * ROW, out, HEADER, left * ROW);
        System.arraycopy(flips, 0, out, HEADER + left * ROW, 2 * flipCount);
        out[PENDING] = left;
        out[FLIPS] = flipCount;
        return out;
    }

    /** One update through every rule; returns the number of open flip starts. */
    private int update(double[] s, long t, double imb, double vel, double spread, double mean, int flipCount) {
        final int off = (int) s[AlertRules.OFF_MASK];
        if ((off & (1 << EXTREME)) == 0) {
            extreme(s, 0, MEDIUM_RANK, s[AlertRules.MEDIUM], s[AlertRules.CLEAR], t, imb);
            extreme(s, 1, HIGH_RANK, s[AlertRules.HIGH], s[AlertRules.HIGH_CLEAR], t, imb);
        }
        if ((off & (1 << FLIP)) == 0) {
            flipCount = flip(s, t, imb, flipCount);
        }
        if ((off & (1 << SPREAD)) == 0) {
            spread(s, t, spread, mean);
        }
        if ((off & (1 << VELOCITY)) == 0) {
            final boolean on = !Double.isNaN(vel) && Math.abs(vel) >= s[AlertRules.VELOCITY_THRESHOLD];
            if (on && s[VELOCITY_ON] == 0) {
                candidates.add(new Alert(VELOCITY, 1, t, t, vel, s[AlertRules.VELOCITY_THRESHOLD], Double.NaN));
            }
            s[VELOCITY_ON] = on ? 1 : 0;
        }
        return flipCount;
    }

    private void extreme(double[] s, int severity, int rank, double enter, double clear, long t, double imb) {
        final int o = EXTREMES + 4 * severity;
        // the code of each side: 1, 0 or none (in the band: the last code stands)
        if (imb >= enter) {
            s[o] = 1;
        } else if (imb < clear) {
            s[o] = 0;
        }
        if (-imb >= enter) {
            s[o + 1] = 1;
        } else if (-imb < clear) {
            s[o + 1] = 0;
        }
        final double state = s[o] - s[o + 1];
        final double previous = s[o + 2];
        s[o + 2] = state;
        final double minMs = s[AlertRules.EXTREME_MIN_MS];
        if (!Double.isNaN(s[o + 3])) { // an open episode: state == previous while it lasts
            final long held = t - (long) s[o + 3];
            if (state != previous || held > minMs + GRACE_MS) {
                s[o + 3] = Double.NaN; // ended or too late to confirm
            } else if (held >= minMs) {
                candidates.add(new Alert(EXTREME, rank, (long) s[o + 3], t, imb, enter, s[AlertRules.LEVEL]));
                s[o + 3] = Double.NaN;
                return;
            } else {
                return;
            }
        }
        if (state != 0 && state != previous) {
            s[o + 3] = t;
        }
    }

    private int flip(double[] s, long t, double imb, int count) {
        final double threshold = s[AlertRules.FLIP_THRESHOLD];
        final double window = s[AlertRules.FLIP_WINDOW_MS];
        // starts more than the window before this update can end no flip any more
        int first = 0;
        while (first < count && t - (long) flips[2 * first] > window) {
            first++;
        }
        if (first > 0) {
            System.arraycopy(flips, 2 * first, flips, 0, 2 * (count - first));
            count -= first;
        }
        final double sign = s[FLIP_SIGN];
        if (count > 0 && sign * imb <= -threshold) {
            candidates.add(new Alert(FLIP, HIGH_RANK, (long) flips[0], t, imb, threshold, flips[1]));
            count = 0; // every open start ends here; this update is the next one
        }
        if (Math.abs(imb) >= threshold) {
            if (count == 0) {
                s[FLIP_SIGN] = Math.signum(imb);
            }
            if (flips.length < 2 * count + 2) {
                flips = Arrays.copyOf(flips, 2 * flips.length);
            }
            flips[2 * count] = t;
            flips[2 * count + 1] = imb;
            count++;
        }
        return count;
    }

    private void spread(double[] s, long t, double spread, double mean) {
        final double k = s[AlertRules.SPREAD_K];
        final boolean on = mean > 0 && spread >= k * mean; // false for NaN (no value)
        final boolean previous = s[SPREAD_ON] == 1;
        s[SPREAD_ON] = on ? 1 : 0;
        final double minMs = s[AlertRules.SPREAD_MIN_MS];
        if (!Double.isNaN(s[SPREAD_START])) {
            final long held = t - (long) s[SPREAD_START];
            if (!on || held > minMs + GRACE_MS) {
                s[SPREAD_START] = Double.NaN;
            } else if (held >= minMs) {
                candidates.add(new Alert(SPREAD, MEDIUM_RANK, (long) s[SPREAD_START], t, spread / mean, k, spread));
                s[SPREAD_START] = Double.NaN;
                return;
            } else {
                return;
            }
        }
        if (on && !previous) {
            s[SPREAD_START] = t;
        }
    }

    /** The cooldown over this release's candidates, per type, in decision order. */
    private void decide(double[] s, List<Alert> raised) {
        if (candidates.isEmpty()) {
            return;
        }
        candidates.sort(DECISION_ORDER);
        final double cooldown = s[AlertRules.COOLDOWN_MS];
        for (Alert candidate : candidates) {
            final int o = COOLDOWN + 2 * candidate.type;
            final boolean admitted =
                    Double.isNaN(s[o])
                            || candidate.rank > s[o + 1]
                            || candidate.end - (long) s[o] >= cooldown;
            if (admitted) {
                s[o] = candidate.end;
                s[o + 1] = candidate.rank;
                raised.add(candidate);
            }
        }
    }
}
