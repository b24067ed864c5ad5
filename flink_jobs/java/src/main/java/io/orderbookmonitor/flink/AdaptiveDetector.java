package io.orderbookmonitor.flink;

import static io.orderbookmonitor.flink.AdaptiveBaseline.LAST;
import static io.orderbookmonitor.flink.AdaptiveBaseline.MEAN;
import static io.orderbookmonitor.flink.AdaptiveBaseline.MOMENTS;
import static io.orderbookmonitor.flink.AdaptiveBaseline.RMS;
import static io.orderbookmonitor.flink.AdaptiveBaseline.RMS_LAST;
import static io.orderbookmonitor.flink.AdaptiveBaseline.RMS_SEEN;
import static io.orderbookmonitor.flink.AdaptiveBaseline.SEEN;
import static io.orderbookmonitor.flink.AdaptiveBaseline.W;

import java.util.List;

/**
 * The adaptive profile's rules on one update of a key (docs/alerts.md, "The adaptive conditions"
 * and "For the streaming engine"; the definition is flink_jobs/alert_rules.py, profile adaptive):
 * the baselines advance to the update's time and give its scores (the imbalance's rarity "1 in
 * N", the spread's z, the velocity over its RMS), gated by warm-up and depth; then the extremes,
 * spread widening and velocity spike take them. The flip and the cooldown are {@link
 * AlertDetector}'s, shared with the seed profile. State: a block of {@link #SIZE} doubles in the
 * key's array at offset {@code b}:
 *
 * <pre>[clock][imbalance moments][imbalance histogram, 100 bins over [-1, 1]][spread moments]
 * [spread z histogram, 64 bins over [-8, 8]][last z][velocity mean square]
 * [per extreme severity: state, start, confirmed][spread: state, start, confirmed][velocity on]</pre>
 */
final class AdaptiveDetector {

    static final int CLOCK = 0;
    static final int IMBALANCE = 1;
    static final int IMBALANCE_HIST = IMBALANCE + MOMENTS;
    static final int IMBALANCE_BINS = 100;
    static final int SPREAD = IMBALANCE_HIST + IMBALANCE_BINS;
    static final int Z_HIST = SPREAD + MOMENTS;
    static final int Z_BINS = 64;
    static final int Z_LAST = Z_HIST + Z_BINS;
    static final int VELOCITY = Z_LAST + 1;
    /** Per severity (medium, high): hysteresis state (−1, 0, +1), episode start, confirmed (0/1). */
    static final int EXTREMES = VELOCITY + RMS;
    static final int SPREAD_EPISODE = EXTREMES + 6;
    static final int VELOCITY_ON = SPREAD_EPISODE + 3;
    static final int SIZE = VELOCITY_ON + 1;

    /** The scores of the update just stepped: imbalance rarity (0: gated), spread z, velocity (NaN: none). */
    double imbalanceScore;

    double spreadScore;
    double velocityScore;
    /** (depth_bid_10bps + depth_ask_10bps) · mid of the update (NaN: unknown). */
    double depth;

    private boolean spreadOn;
    private final double[] tails = new double[2];

    /** A new key's block at {@code b}: nothing held, empty histograms. */
    static void init(double[] s, int b) {
        s[b + CLOCK] = Double.NaN;
        s[b + IMBALANCE + LAST] = Double.NaN;
        s[b + SPREAD + LAST] = Double.NaN;
        s[b + Z_LAST] = Double.NaN;
        s[b + VELOCITY + RMS_LAST] = Double.NaN;
    }

    /**
     * Advances the baselines to the update of row {@code o} (AlertDetector's row layout) and sets
     * its scores. An update at the clock's time (or, never here, before it) folds nothing.
     */
    void scores(double[] s, int b, int o) {
        final long t = (long) s[o];
        final double imb = s[o + AlertDetector.IMB];
        final double vel = s[o + AlertDetector.VEL];
        final double spread = s[o + AlertDetector.BOOK + AlertDetector.SPREAD_BPS];
        final double clock = s[b + CLOCK];
        final boolean advance = !Double.isNaN(clock) && t > clock;
        final double dt = advance ? t - clock : 0;
        final double tau = s[AlertRules.TAU_MS];
        final double a = tau / (tau + dt);
        final int im = b + IMBALANCE;
        if (advance && !Double.isNaN(s[im + LAST])) {
            AdaptiveBaseline.foldMoments(s, im, a, dt);
            AdaptiveBaseline.foldHistogram(s, b + IMBALANCE_HIST, IMBALANCE_BINS, -1.0, 1.0, a, s[im + LAST]);
        }
        s[im + LAST] = imb;
        final double rarity = Double.isNaN(imb)
                ? Double.NaN
                : AdaptiveBaseline.rarity(s, b + IMBALANCE_HIST, IMBALANCE_BINS, -1.0, 1.0, imb, tails);
        final int sm = b + SPREAD;
        if (advance && !Double.isNaN(s[sm + LAST])) {
            AdaptiveBaseline.foldMoments(s, sm, a, dt);
        }
        s[sm + LAST] = spread;
        final double z = Double.isNaN(spread) || s[sm + W] <= 0
                ? Double.NaN
                : AdaptiveBaseline.z(s, sm, spread, 1e-12, s[AlertRules.SPREAD_SD_FLOOR_FRAC]);
        if (advance && !Double.isNaN(s[b + Z_LAST])) {
            AdaptiveBaseline.foldHistogram(s, b + Z_HIST, Z_BINS, -8.0, 8.0, a, s[b + Z_LAST]);
        }
        s[b + Z_LAST] = z;
        final int vm = b + VELOCITY;
        if (advance && !Double.isNaN(s[vm + RMS_LAST])) {
            AdaptiveBaseline.foldRms(s, vm, a, dt);
        }
        s[vm + RMS_LAST] = vel;
        s[b + CLOCK] = Double.isNaN(clock) ? t : Math.max(clock, t);

        final double mid = s[o + AlertDetector.BOOK];
        final double bid10 = s[o + AlertDetector.BOOK + AlertDetector.DEPTH_BID_10];
        final double ask10 = s[o + AlertDetector.BOOK + AlertDetector.DEPTH_BID_10 + 1];
        depth = (bid10 + ask10) * mid; // NaN when any is unknown
        final double minDepth = s[AlertRules.MIN_DEPTH];
        final boolean deep = minDepth <= 0 || (!Double.isNaN(depth) && depth >= minDepth);
        final double warmup = s[AlertRules.WARMUP_MS];
        final boolean imbOk = !Double.isNaN(rarity) && deep && s[im + SEEN] >= warmup;
        final boolean velOk = !Double.isNaN(vel) && deep && s[vm + RMS_SEEN] >= warmup;
        final boolean spreadOk = !Double.isNaN(z) && s[sm + SEEN] >= warmup;
        imbalanceScore = imbOk ? rarity : 0.0;
        spreadScore = spreadOk ? z : Double.NaN;
        spreadOn = spreadOk && z >= s[AlertRules.SPREAD_K];
        velocityScore = velOk ? vel / AdaptiveBaseline.rms(s, vm, s[AlertRules.VELOCITY_RMS_FLOOR]) : Double.NaN;
    }

    /** The extremes, spread widening and velocity spike on the scores of {@link #scores}. */
    void rules(double[] s, int b, int o, AlertDetector detector, List<AlertDetector.Alert> candidates) {
        final long t = (long) s[o];
        final double x = imbalanceScore;
        final double minMs = s[AlertRules.EXTREME_MIN_MS];
        for (int severity = 0; severity < 2; severity++) {
            final double enter = s[severity == 0 ? AlertRules.MEDIUM : AlertRules.HIGH];
            final double clear = s[severity == 0 ? AlertRules.CLEAR : AlertRules.HIGH_CLEAR];
            final int e = b + EXTREMES + 3 * severity;
            final double state = s[e];
            final double next = x >= enter ? 1 : -x >= enter ? -1 : state * x >= clear ? state : 0;
            if (next != state) {
                s[e] = next;
                s[e + 1] = t;
                s[e + 2] = 0;
            } else if (confirmDue(s, e, t, minMs)) {
                final int rank = severity == 0 ? AlertDetector.MEDIUM_RANK : AlertDetector.HIGH_RANK;
                detector.candidate(AlertDetector.EXTREME, rank, (long) s[e + 1], t, x, enter, s[AlertRules.LEVEL], o);
            }
        }
        final int ep = b + SPREAD_EPISODE;
        final double k = s[AlertRules.SPREAD_K];
        if (spreadOn && s[ep] == 0) {
            s[ep] = 1;
            s[ep + 1] = t;
            s[ep + 2] = 0;
        } else if (!spreadOn) {
            s[ep] = 0;
        } else if (confirmDue(s, ep, t, s[AlertRules.SPREAD_MIN_MS])) {
            final int rank = escalated(s, AlertDetector.MEDIUM_RANK, spreadScore, k);
            detector.candidate(AlertDetector.SPREAD, rank, (long) s[ep + 1], t, spreadScore, k,
                    s[o + AlertDetector.BOOK + AlertDetector.SPREAD_BPS], o);
        }
        final double v = velocityScore;
        final double threshold = s[AlertRules.VELOCITY_THRESHOLD];
        final boolean on = !Double.isNaN(v) && Math.abs(v) >= threshold;
        if (on && s[b + VELOCITY_ON] == 0) {
            final int rank = escalated(s, 1, v, threshold);
            detector.candidate(AlertDetector.VELOCITY, rank, t, t, v, threshold, Double.NaN, o);
        }
        s[b + VELOCITY_ON] = on ? 1 : 0;
    }

    /** An open, unconfirmed episode at {@code e} held min..min + grace ms: confirms it. */
    private static boolean confirmDue(double[] s, int e, long t, double minMs) {
        final long held = t - (long) s[e + 1];
        if (s[e] != 0 && s[e + 2] == 0 && minMs <= held && held <= minMs + AlertDetector.GRACE_MS) {
            s[e + 2] = 1;
            return true;
        }
        return false;
    }

    /** High when |score| reaches escalate_factor times the threshold, else {@code rank}. */
    static int escalated(double[] s, int rank, double score, double threshold) {
        return Math.abs(score) >= s[AlertRules.ESCALATE] * threshold ? AlertDetector.HIGH_RANK : rank;
    }

    /**
     * The context of an alert of {@code type} with score {@code score} on row {@code o} (its
     * baselines as they are after that update was stepped): value, baseline mean, std,
     * percentile, RMS, depth (NaN: none), as flink_jobs/alert_rules.py KeyRules._context.
     */
    void context(double[] s, int b, int o, int type, double score, double[] out) {
        out[5] = depth;
        if (type == AlertDetector.VELOCITY) {
            out[0] = s[o + AlertDetector.VEL];
            out[4] = AdaptiveBaseline.rms(s, b + VELOCITY, s[AlertRules.VELOCITY_RMS_FLOOR]);
            return;
        }
        if (type == AlertDetector.SPREAD) {
            final int sm = b + SPREAD;
            out[0] = s[o + AlertDetector.BOOK + AlertDetector.SPREAD_BPS];
            out[1] = s[sm + MEAN];
            out[2] = AdaptiveBaseline.std(s, sm, 1e-12, s[AlertRules.SPREAD_SD_FLOOR_FRAC]);
            out[3] = AdaptiveBaseline.tail(s, b + Z_HIST, Z_BINS, -8.0, 8.0, score, true);
            return;
        }
        final int im = b + IMBALANCE;
        final double imb = s[o + AlertDetector.IMB];
        out[0] = imb;
        out[1] = s[im + MEAN];
        out[2] = AdaptiveBaseline.std(s, im, s[AlertRules.IMBALANCE_SD_FLOOR], 0.0);
        out[3] = Double.isNaN(imb)
                ? Double.NaN
                : AdaptiveBaseline.tail(s, b + IMBALANCE_HIST, IMBALANCE_BINS, -1.0, 1.0, imb, true);
    }
}
