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
 * <p>Kept in keyed state as part of {@link BookFlowFunction.FlowState}: public fields and a public
 * no-argument constructor, as Flink's structured types require.
 */
public class SlidingMoments {

    /** Above this Σy²/M2 a recompute re-centres the shift: the std is then exact to ~1e-12. */
    static final double MAX_CANCELLATION = 1e4;

    /** Values in the window. */
    public long count;
    /** K: the deviations y = x − K are summed. */
    public double shift;
    /** Σy as a double-double: {@code sum + sumLow}. */
    public double sum;
    public double sumLow;
    /** Σ fl(y²) as a double-double. */
    public double sumSq;
    public double sumSqLow;

    /** A value enters the window; the first one of an empty window becomes the shift. */
    public void add(double x) {
        if (count == 0) {
            clear();
            shift = x;
        }
        accumulate(x);
    }

    /** A value that {@link #add} took leaves the window (the same y and y², so it cancels). */
    public void remove(double x) {
        count--;
        if (count == 0) { // nothing carried into the next window
            clear();
            return;
        }
        final double y = x - shift;
        addToSum(-y);
        addToSumSq(-(y * y));
    }

    /**
     * The sums over exactly these values (the window, in any order), centred on the value nearest
     * their mean.
     */
    public void recompute(double[] values, int n) {
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
        shift = nearest;
        for (int i = 0; i < n; i++) {
            accumulate(values[i]);
        }
    }

    /**
     * True when the sums have lost more than ~1e-12 of the variance to cancellation because the
     * mean has moved away from the shift (or M2 came out ≤ 0 with some y ≠ 0): recompute them.
     */
    public boolean needsRecompute() {
        final double sq = sumSq + sumSqLow;
        return sq > 0 && m2(sq) * MAX_CANCELLATION <= sq;
    }

    /** Σ(x − mean)²: Σy² − (Σy)²/n. */
    private double m2(double sq) {
        final double s = sum + sumLow;
        return sq - s * (s / count);
    }

    /** (mean − K), the mean's part that carries the digits below K's. Needs count > 0. */
    private double meanOffset() {
        return (sum + sumLow) / count;
    }

    /** Σx/n. Needs count > 0. */
    public double mean() {
        return shift + meanOffset();
    }

    /** sqrt(Σ(x − mean)²/n), never negative. Needs count > 0. */
    public double std() {
        return Math.sqrt(Math.max(m2(sumSq + sumSqLow), 0) / count);
    }

    /** x − mean, from the deviations, so that the digits of the mean below K's are not lost. */
    public double deviation(double x) {
        return (x - shift) - meanOffset();
    }

    private void accumulate(double x) {
        count++;
        final double y = x - shift;
        addToSum(y);
        addToSumSq(y * y);
    }

    private void clear() {
        count = 0;
        shift = 0;
        sum = 0;
        sumLow = 0;
        sumSq = 0;
        sumSqLow = 0;
    }

    private void addToSum(double v) {
        final double s = sum + v;
        final double low = sumLow + twoSumError(sum, v, s);
        sum = s + low;
        sumLow = twoSumError(s, low, sum);
    }

    private void addToSumSq(double v) {
        final double s = sumSq + v;
        final double low = sumSqLow + twoSumError(sumSq, v, s);
        sumSq = s + low;
        sumSqLow = twoSumError(s, low, sumSq);
    }

    /** The exact rounding error of {@code s = fl(a + b)} (Knuth's TwoSum, no branch). */
    static double twoSumError(double a, double b, double s) {
        final double bv = s - a;
        final double av = s - bv;
        return (a - av) + (b - bv);
    }
}
