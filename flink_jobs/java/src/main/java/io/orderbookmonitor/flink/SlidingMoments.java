package io.orderbookmonitor.flink;

/**
 * Count, mean and population standard deviation of a sliding window of doubles, updated in O(1)
 * per value that enters or leaves, and as exact as a two-pass computation over the window.
 *
 * <p>Why not Σx and Σx²: the variance Σx² − (Σx)²/n of a series whose spread is small against its
 * level (a one-tick spread in bps, std/mean ~ 1e-6) cancels almost every digit, and the rounding
 * of each add and subtract accumulates for as long as the window never empties (z off by 2e-4 on a
 * real capture). Here the sums are of the deviations from a shift K, a value of the window
 * ({@code y = x − K}, exact when x and K are within a factor 2), kept as double-double sums (an
 * error-free TwoSum per add or remove, so taking a value out cancels its entry to ~1e-32 and there
 * is no drift). What is left is the cancellation in Σy² − (Σy)²/n, a relative error of about
 * 1e-16·F with F = Σy²/M2 = 1 + ((mean − K)/std)²: small while K stays near the mean. When the
 * window's mean moves away from K (F above {@link #MAX_CANCELLATION}, or M2 at or below 0 while
 * some y ≠ 0), {@link #needsRecompute} says so and the caller recomputes the sums from the window
 * with a new K, the value of the window nearest its mean (then F ≤ 2). That happens when the level
 * drifts by ~100 std, e.g. once after a regime change, not per update.
 *
 * <p>A view of {@link #SIZE} doubles of an array that lives in keyed state
 * ({@link BookFlowFunction.FlowState#moments}): a primitive array crosses Flink's state conversion
 * on every call for the cost of a reference, where structured fields are boxed and hashed one by
 * one.
 */
final class SlidingMoments {

    /** Doubles per window: count, K, Σy (high, low), Σy² (high, low). */
    static final int SIZE = 6;
    /** Above this Σy²/M2 a recompute re-centres the shift: the std is then exact to ~1e-12. */
    static final double MAX_CANCELLATION = 1e4;

    private static final int COUNT = 0; // exact as a double up to 2^53 values
    private static final int SHIFT = 1;
    private static final int SUM = 2;
    private static final int SUM_SQ = 4;

    private final double[] m;
    private final int at;

    /** The window stored in {@code array[at .. at + SIZE)} (all zeros: an empty window). */
    SlidingMoments(double[] array, int at) {
        this.m = array;
        this.at = at;
    }

    /** Values in the window. */
    long count() {
        return (long) m[at + COUNT];
    }

    /** A value enters the window; the first one of an empty window becomes the shift. */
    void add(double x) {
        if (m[at + COUNT] == 0) {
            clear();
            m[at + SHIFT] = x;
        }
        accumulate(x);
    }

    /** A value that {@link #add} took leaves the window (the same y and y², so it cancels). */
    void remove(double x) {
        m[at + COUNT] -= 1;
        if (m[at + COUNT] == 0) { // nothing carried into the next window
            clear();
            return;
        }
        final double y = x - m[at + SHIFT];
        addTo(SUM, -y);
        addTo(SUM_SQ, -(y * y));
    }

    /**
     * The sums over exactly these values (the window, in any order), centred on the value nearest
     * their mean.
     */
    void recompute(double[] values, int n) {
        clear();
        if (n == 0) {
            return;
        }
        double plain = 0;
        for (int i = 0; i < n; i++) {
            plain += values[i];
        }
        final double estimate = plain / n;
        double nearest = values[0];
        for (int i = 1; i < n; i++) {
            if (Math.abs(values[i] - estimate) < Math.abs(nearest - estimate)) {
                nearest = values[i];
            }
        }
        m[at + SHIFT] = nearest;
        for (int i = 0; i < n; i++) {
            accumulate(values[i]);
        }
    }

    /**
     * True when the sums have lost more than ~1e-12 of the variance to cancellation because the
     * mean has moved away from the shift (or M2 came out ≤ 0 with some y ≠ 0): recompute them.
     */
    boolean needsRecompute() {
        final double sq = total(SUM_SQ);
        return sq > 0 && m2(sq) * MAX_CANCELLATION <= sq;
    }

    /** Σx/n. Needs count > 0. */
    double mean() {
        return m[at + SHIFT] + meanOffset();
    }

    /** sqrt(Σ(x − mean)²/n), never negative. Needs count > 0. */
    double std() {
        return Math.sqrt(Math.max(m2(total(SUM_SQ)), 0) / m[at + COUNT]);
    }

    /** x − mean, from the deviations, so that the digits of the mean below K's are not lost. */
    double deviation(double x) {
        return (x - m[at + SHIFT]) - meanOffset();
    }

    /** Σ(x − mean)²: Σy² − (Σy)²/n. */
    private double m2(double sq) {
        final double s = total(SUM);
        return sq - s * (s / m[at + COUNT]);
    }

    /** (mean − K), the mean's part that carries the digits below K's. Needs count > 0. */
    private double meanOffset() {
        return total(SUM) / m[at + COUNT];
    }

    private double total(int sum) {
        return m[at + sum] + m[at + sum + 1];
    }

    private void accumulate(double x) {
        m[at + COUNT] += 1;
        final double y = x - m[at + SHIFT];
        addTo(SUM, y);
        addTo(SUM_SQ, y * y);
    }

    private void clear() {
        for (int i = 0; i < SIZE; i++) {
            m[at + i] = 0;
        }
    }

    /** The double-double at {@code sum} (high, low) plus v, renormalised. */
    private void addTo(int sum, double v) {
        final double high = m[at + sum];
        final double s = high + v;
        final double low = m[at + sum + 1] + twoSumError(high, v, s);
        final double renormalised = s + low;
        m[at + sum] = renormalised;
        m[at + sum + 1] = twoSumError(s, low, renormalised);
    }

    /** The exact rounding error of {@code s = fl(a + b)} (Knuth's TwoSum, no branch). */
    static double twoSumError(double a, double b, double s) {
        final double bv = s - a;
        final double av = s - bv;
        return (a - av) + (b - bv);
    }
}
