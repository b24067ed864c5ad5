package io.orderbookmonitor.flink;

/**
 * The rolling distributions of the adaptive profile, as static arithmetic on slices of a key's
 * {@code double[]} state (see {@link AdaptiveDetector} for where each slice is): a time-weighted
 * exponential mean and variance, a mean square, and a histogram. Exactly the operations of
 * flink_jobs/alert_baseline.py, in its order, in IEEE doubles, so that the stream engine's scores
 * equal the Python rules engine's bit for bit: the decay is the rational {@code a = tau / (tau +
 * dt)} (no {@code exp}), and every sum runs in the same order.
 *
 * <p>A value "holds" from its update to the key's next one: at an update at time t after the key's
 * clock, the previous value x' enters with weight {@code w = 1 - a} after everything before it
 * was decayed by a (West's weighted incremental mean and variance). A missing value (NaN) holds
 * nothing.
 */
final class AdaptiveBaseline {

    private AdaptiveBaseline() {}

    /** Mean and variance slice: weight, mean, variance, ms of history, the value that holds. */
    static final int W = 0;
    static final int MEAN = 1;
    static final int VAR = 2;
    static final int SEEN = 3;
    static final int LAST = 4;
    static final int MOMENTS = 5;

    /** Mean square slice: weight, mean of x², ms of history, the value that holds. */
    static final int MS = 1;
    static final int RMS_SEEN = 2;
    static final int RMS_LAST = 3;
    static final int RMS = 4;

    /** The smallest tail a histogram reports: a value never seen before is "1 in 10,000". */
    static final double MIN_TAIL = 1e-4;

    /** Folds the held value of the moments at {@code m} for {@code dt} ms (decay {@code a}). */
    static void foldMoments(double[] s, int m, double a, double dt) {
        final double w = 1 - a;
        final double decayed = a * s[m + W];
        s[m + W] = decayed + w;
        final double d = s[m + LAST] - s[m + MEAN];
        final double r = w / s[m + W];
        s[m + MEAN] = s[m + MEAN] + r * d;
        s[m + VAR] = (decayed / s[m + W]) * (s[m + VAR] + r * d * d);
        s[m + SEEN] += dt;
    }

    /** max(sqrt(var), floor, frac · |mean|) of the moments at {@code m}. */
    static double std(double[] s, int m, double floor, double frac) {
        return Math.max(Math.max(Math.sqrt(s[m + VAR]), floor), frac * Math.abs(s[m + MEAN]));
    }

    /** (x − mean) / std, 0 without dispersion. */
    static double z(double[] s, int m, double x, double floor, double frac) {
        final double sd = std(s, m, floor, frac);
        return sd > 0 ? (x - s[m + MEAN]) / sd : 0.0;
    }

    /** Folds the held value of the mean square at {@code m}. */
    static void foldRms(double[] s, int m, double a, double dt) {
        final double w = 1 - a;
        s[m + W] = a * s[m + W] + w;
        final double r = w / s[m + W];
        final double last = s[m + RMS_LAST];
        s[m + MS] = s[m + MS] + r * (last * last - s[m + MS]);
        s[m + RMS_SEEN] += dt;
    }

    static double rms(double[] s, int m, double floor) {
        return Math.max(Math.sqrt(s[m + MS]), floor);
    }

    /** floor((x − lo) · bins / (hi − lo)), clamped to [0, bins − 1]. */
    static int bin(double x, double lo, double hi, int bins) {
        final double b = Math.floor((x - lo) * bins / (hi - lo));
        return b < 0 ? 0 : b > bins - 1 ? bins - 1 : (int) b;
    }

    /** Decays the histogram at {@code h} by {@code a} and adds {@code 1 − a} in the bin of {@code last}. */
    static void foldHistogram(double[] s, int h, int bins, double lo, double hi, double a, double last) {
        for (int i = 0; i < bins; i++) {
            s[h + i] *= a;
        }
        s[h + bin(last, lo, hi, bins)] += 1 - a;
    }

    /**
     * The time fractions of the history below ({@code lower}) or above x's bin, each with half of
     * that bin; NaN when the histogram is empty.
     */
    static double tail(double[] s, int h, int bins, double lo, double hi, double x, boolean lower) {
        final double[] tails = new double[2];
        return tails(s, h, bins, lo, hi, x, tails) ? tails[lower ? 0 : 1] : Double.NaN;
    }

    /** "1 in N": +1 / upper tail when x is in its upper half, −1 / lower tail else; NaN when empty. */
    static double rarity(double[] s, int h, int bins, double lo, double hi, double x, double[] scratch) {
        if (!tails(s, h, bins, lo, hi, x, scratch)) {
            return Double.NaN;
        }
        final double lower = scratch[0];
        final double upper = scratch[1];
        return upper <= lower ? 1 / Math.max(upper, MIN_TAIL) : -1 / Math.max(lower, MIN_TAIL);
    }

    /** Both tails of x into {@code out} (lower, upper), summed in bin order from 0; false when empty. */
    private static boolean tails(double[] s, int h, int bins, double lo, double hi, double x, double[] out) {
        final int b = bin(x, lo, hi, bins);
        double below = 0.0;
        double above = 0.0;
        double total = 0.0;
        for (int i = 0; i < bins; i++) {
            total += s[h + i];
            if (i < b) {
                below += s[h + i];
            } else if (i > b) {
                above += s[h + i];
            }
        }
        if (total <= 0) {
            return false;
        }
        final double half = 0.5 * s[h + b];
        out[0] = (below + half) / total;
        out[1] = (above + half) / total;
        return true;
    }
}
