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
 * <pre>[rules (AlertRules.SIZE)][header][adaptive block: AdaptiveDetector.SIZE, adaptive profile
 * only][pending updates, ROW each][flip starts, 2 each]</pre>
 *
 * <p>Two profiles (AlertRules.ADAPTIVE): the seed's absolute thresholds, below, and the adaptive
 * conditions of {@link AdaptiveDetector} (scores against the key's own distributions), which
 * share the flip, the episodes' grace and the cooldown written here.
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
 * same or a higher severity. Every alert carries its context (the book of its update; adaptive:
 * the baselines), as flink_jobs/alert_rules.py's Alert.context.
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
    /**
     * Unused (it held the key's release timer): kept so that the layout of saved state (uid
     * obm-alerts-3) stays the same; removing it means a new uid and savepoints resumed empty.
     */
    static final int TIMER = COOLDOWN + 2 * 4;
    static final int HEADER = TIMER + 1;
    /**
     * A pending update: event time, imbalance, velocity, spread mean, then the book (BOOK_FIELDS
     * of AlertFunction: mid, best bid, ask, their sizes, spread bps, depth bid/ask 10 and 50 bps);
     * NaN: none.
     */
    static final int IMB = 1;
    static final int VEL = 2;
    static final int SPREAD_MEAN = 3;
    static final int BOOK = 4;
    static final int BOOK_SIZE = 10;
    /** Offsets in the book. */
    static final int SPREAD_BPS = 5;
    static final int DEPTH_BID_10 = 6;
    static final int ROW = BOOK + BOOK_SIZE;
    /** Context values of an alert before its book: value, baseline mean, std, percentile, rms, depth. */
    static final int CONTEXT_VALUES = 6;

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
        /** Raised by the adaptive profile (else the seed's). */
        final boolean adaptive;
        /** CONTEXT_VALUES values then the book (NaN: none). */
        final double[] context;

        Alert(int type, int rank, long start, long end, double metric, double threshold, double detail) {
            this(type, rank, start, end, metric, threshold, detail, false, new double[CONTEXT_VALUES + BOOK_SIZE]);
        }

        Alert(int type, int rank, long start, long end, double metric, double threshold, double detail,
                boolean adaptive, double[] context) {
            this.type = type;
            this.rank = rank;
            this.start = start;
            this.end = end;
            this.metric = metric;
            this.threshold = threshold;
            this.detail = detail;
            this.adaptive = adaptive;
            this.context = context;
        }

        @Override
        public String toString() {
            return TYPES.get(type) + ":" + SEVERITY[rank] + ":" + start + "-" + end + ":" + metric;
        }
    }

    private static final Comparator<Alert> DECISION_ORDER =
            Comparator.<Alert>comparingLong(a -> a.end).thenComparingInt(a -> -a.rank).thenComparingLong(a -> a.start);

    private final List<Alert> candidates = new ArrayList<>();
    private final AdaptiveDetector adaptive = new AdaptiveDetector();
    private double[] flips = new double[32];
    /** The state being released (candidate() reads the context from it). */
    private double[] current;

    /** Where the pending updates start: after the header and, in the adaptive profile, its block. */
    static int base(double[] state) {
        return state[AlertRules.ADAPTIVE] == 1 ? HEADER + AdaptiveDetector.SIZE : HEADER;
    }

    /** A new key's state. */
    static double[] empty(double[] rules) {
        final double[] state = new double[rules[AlertRules.ADAPTIVE] == 1 ? HEADER + AdaptiveDetector.SIZE : HEADER];
        System.arraycopy(rules, 0, state, 0, AlertRules.SIZE);
        if (rules[AlertRules.ADAPTIVE] == 1) {
            AdaptiveDetector.init(state, HEADER);
        }
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
        return (long) state[base(state)];
    }

    /**
     * Processes the pending updates at or before {@code upTo} in order, adds the alerts they raise
     * to {@code raised} (in decision order) and returns the new state.
     */
    double[] release(double[] state, long upTo, List<Alert> raised) {
        final int n = pending(state);
        final int base = base(state);
        int due = 0;
        while (due < n && state[base + due * ROW] <= upTo) {
            due++;
        }
        if (due == 0) {
            return state;
        }
        // the flip starts into a working copy (they change length as updates are processed)
        final int flipBase = base + n * ROW;
        int flipCount = (int) state[FLIPS];
        if (flips.length < 2 * flipCount + 2) {
            flips = new double[2 * (flipCount + 1) * 2];
        }
        System.arraycopy(state, flipBase, flips, 0, 2 * flipCount);
        candidates.clear();
        current = state;
        for (int k = 0; k < due; k++) {
            flipCount = update(state, base + k * ROW, flipCount);
        }
        current = null;
        decide(state, raised);
        final int left = n - due;
        final double[] out = new double[base + left * ROW + 2 * flipCount];
        System.arraycopy(state, 0, out, 0, base);
        System.arraycopy(state, base + due * ROW, out, base, left * ROW);
        System.arraycopy(flips, 0, out, base + left * ROW, 2 * flipCount);
        out[PENDING] = left;
        out[FLIPS] = flipCount;
        return out;
    }

    /** One update (row {@code o}) through every rule; returns the number of open flip starts. */
    private int update(double[] s, int o, int flipCount) {
        final long t = (long) s[o];
        if (s[AlertRules.ADAPTIVE] == 1) {
            adaptive.scores(s, HEADER, o);
            adaptive.rules(s, HEADER, o, this, candidates);
            return flip(s, t, adaptive.imbalanceScore, flipCount, o);
        }
        final double imb = Double.isNaN(s[o + IMB]) ? 0.0 : s[o + IMB];
        final double vel = s[o + VEL];
        final double spread = s[o + BOOK + SPREAD_BPS];
        final double mean = s[o + SPREAD_MEAN];
        final int off = (int) s[AlertRules.OFF_MASK];
        if ((off & (1 << EXTREME)) == 0) {
            extreme(s, 0, MEDIUM_RANK, s[AlertRules.MEDIUM], s[AlertRules.CLEAR], t, imb, o);
            extreme(s, 1, HIGH_RANK, s[AlertRules.HIGH], s[AlertRules.HIGH_CLEAR], t, imb, o);
        }
        if ((off & (1 << FLIP)) == 0) {
            flipCount = flip(s, t, imb, flipCount, o);
        }
        if ((off & (1 << SPREAD)) == 0) {
            spread(s, t, spread, mean, o);
        }
        if ((off & (1 << VELOCITY)) == 0) {
            final boolean on = !Double.isNaN(vel) && Math.abs(vel) >= s[AlertRules.VELOCITY_THRESHOLD];
            if (on && s[VELOCITY_ON] == 0) {
                candidate(VELOCITY, 1, t, t, vel, s[AlertRules.VELOCITY_THRESHOLD], Double.NaN, o);
            }
            s[VELOCITY_ON] = on ? 1 : 0;
        }
        return flipCount;
    }

    /**
     * A candidate alert of the update at row {@code o} of the state being released, with its
     * context, unless its type is off.
     */
    void candidate(int type, int rank, long start, long end, double metric, double threshold, double detail, int o) {
        final double[] s = current;
        if (((int) s[AlertRules.OFF_MASK] & (1 << type)) != 0) {
            return;
        }
        final double[] context = new double[CONTEXT_VALUES + BOOK_SIZE];
        Arrays.fill(context, 0, CONTEXT_VALUES, Double.NaN);
        System.arraycopy(s, o + BOOK, context, CONTEXT_VALUES, BOOK_SIZE);
        final boolean isAdaptive = s[AlertRules.ADAPTIVE] == 1;
        if (isAdaptive) {
            adaptive.context(s, HEADER, o, type, metric, context);
        } else {
            context[0] = type == VELOCITY ? s[o + VEL] : type == SPREAD ? s[o + BOOK + SPREAD_BPS] : s[o + IMB];
        }
        candidates.add(new Alert(type, rank, start, end, metric, threshold, detail, isAdaptive, context));
    }

    private void extreme(double[] s, int severity, int rank, double enter, double clear, long t, double imb, int row) {
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
                candidate(EXTREME, rank, (long) s[o + 3], t, imb, enter, s[AlertRules.LEVEL], row);
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

    /**
     * The flip on the imbalance (seed) or its rarity (adaptive): severity the profile's flip rank,
     * high when both ends reach escalate_factor times the threshold.
     */
    private int flip(double[] s, long t, double imb, int count, int o) {
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
            final int rank = AdaptiveDetector.escalated(
                    s, (int) s[AlertRules.FLIP_RANK], Math.min(Math.abs(imb), Math.abs(flips[1])), threshold);
            candidate(FLIP, rank, (long) flips[0], t, imb, threshold, flips[1], o);
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

    private void spread(double[] s, long t, double spread, double mean, int o) {
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
                candidate(SPREAD, MEDIUM_RANK, (long) s[SPREAD_START], t, spread / mean, k, spread, o);
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
