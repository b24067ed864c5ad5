package io.orderbookmonitor.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigDecimal;
import java.math.MathContext;
import java.util.ArrayDeque;
import java.util.Random;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

/**
 * The sliding moments against an exact computation in BigDecimal (below), on random and
 * adversarial sequences, driven as BookFlowFunction drives them: values enter,
 * the oldest leave, and the sums are recomputed from the window whenever they ask for it.
 */
class SlidingMomentsTest {

    private static final MathContext EXACT = new MathContext(40);
    /** What the metrics must meet (the issue: 1e-9 relative); the method does ~1e-12 and better. */
    private static final double TOLERANCE = 1e-9;

    /**
     * Mean, std and z of {@code x} over the window, exact to 40 digits: with S1 = Σx and S2 = Σx²
     * (exact: every double is a finite binary fraction), n·M2 = n·S2 − S1² is exact, and so is the
     * numerator of z = (n·x − S1)/(n·std); only the final divisions and the root round.
     */
    private static double[] exact(double[] window, int n, double x) {
        BigDecimal s1 = BigDecimal.ZERO;
        BigDecimal s2 = BigDecimal.ZERO;
        for (int i = 0; i < n; i++) {
            final BigDecimal v = new BigDecimal(window[i]);
            s1 = s1.add(v);
            s2 = s2.add(v.multiply(v));
        }
        final BigDecimal count = BigDecimal.valueOf(n);
        final BigDecimal nM2 = count.multiply(s2).subtract(s1.multiply(s1));
        final BigDecimal std = nM2.divide(count.multiply(count), EXACT).sqrt(EXACT);
        final double z =
                nM2.signum() == 0
                        ? Double.NaN
                        : count.multiply(new BigDecimal(x)).subtract(s1).divide(count.multiply(std), EXACT).doubleValue();
        return new double[] {s1.divide(count, EXACT).doubleValue(), std.doubleValue(), z};
    }

    private static SlidingMoments moments() {
        return new SlidingMoments(new double[SlidingMoments.SIZE], 0);
    }

    /** A sliding window of at most {@code width} values over {@code values}, checked at each step. */
    private static Run slide(int steps, int width, IntToDoubleFunction values, int checkEvery) {
        final SlidingMoments moments = moments();
        final ArrayDeque<Double> window = new ArrayDeque<>();
        final Run run = new Run();
        final double[] buffer = new double[width];
        for (int step = 0; step < steps; step++) {
            final double x = values.applyAsDouble(step);
            moments.add(x);
            window.addLast(x);
            while (window.size() > width) {
                moments.remove(window.removeFirst());
            }
            final boolean check = step % checkEvery == 0 || step == steps - 1;
            if (moments.needsRecompute() || check) {
                final int n = copy(window, buffer);
                if (moments.needsRecompute()) {
                    moments.recompute(buffer, n);
                    run.recomputes++;
                }
                if (check) {
                    assertEquals(n, moments.count());
                    run.check(moments, buffer, n, x, step);
                }
            }
        }
        return run;
    }

    private static int copy(ArrayDeque<Double> window, double[] buffer) {
        int n = 0;
        for (double v : window) {
            buffer[n++] = v;
        }
        return n;
    }

    /** Largest relative errors seen (z: relative to max(1, |z|)). */
    private static final class Run {
        int recomputes;
        double mean;
        double std;
        double z;

        void check(SlidingMoments moments, double[] window, int n, double x, int step) {
            final double[] exact = exact(window, n, x);
            mean = Math.max(mean, relative(moments.mean(), exact[0]));
            std = Math.max(std, relative(moments.std(), exact[1]));
            if (!Double.isNaN(exact[2])) {
                final double z1 = moments.deviation(x) / moments.std();
                z = Math.max(z, Math.abs(z1 - exact[2]) / Math.max(1, Math.abs(exact[2])));
            }
            assertTrue(mean <= TOLERANCE && std <= TOLERANCE && z <= TOLERANCE,
                    "step " + step + ": errors mean " + mean + ", std " + std + ", z " + z);
        }
    }

    private static double relative(double got, double want) {
        if (want == 0) {
            return Math.abs(got);
        }
        return Math.abs(got - want) / Math.abs(want);
    }

    @Test
    void oneTickSpreadInBpsAroundADriftingMid() {
        // USD-M BTCUSDT-like: tick 0.1 at ~60,000, mid on a random walk of ticks, spread one tick
        // most of the time: std/mean ~ 1e-5, the case that lost 4 digits to Σx² − (Σx)²/n
        final Random random = new Random(1);
        final long[] mid = {600_000};
        final Run run = slide(20_000, 600, i -> {
            mid[0] += random.nextInt(3) - 1;
            final int ticks = random.nextInt(50) == 0 ? 2 : 1;
            return ticks * 0.1 / (mid[0] * 0.1 + ticks * 0.05) * 1e4;
        }, 97);
        assertTrue(run.std < 1e-12 && run.z < 1e-12, "std " + run.std + ", z " + run.z);
    }

    @Test
    void nearlyEqualValuesAroundALargeMean() {
        // 1.0000000001-like values: std/mean ~ 1e-10, below the z floor but mean and std still exact
        final Random random = new Random(2);
        final Run run = slide(5_000, 300, i -> 1e4 * (1 + 1e-10 * random.nextInt(5)), 23);
        assertTrue(run.std < 1e-12, "std " + run.std);
        // and with std/mean ~ 1e-7, where z is defined
        final Run defined = slide(5_000, 300, i -> 1e4 + 1e-3 * random.nextGaussian(), 23);
        assertTrue(defined.std < 1e-12 && defined.z < 1e-12, "std " + defined.std + ", z " + defined.z);
    }

    @Test
    void theCraftedSequenceDefeatsTheNaiveSums() {
        // the test above would catch the old method: Σx² − (Σx)²/n on the same kind of values
        final Random random = new Random(2);
        final double[] xs = new double[300];
        double sum = 0;
        double sumSq = 0;
        for (int i = 0; i < xs.length; i++) {
            xs[i] = 1e4 + 1e-3 * random.nextGaussian();
            sum += xs[i];
            sumSq += xs[i] * xs[i];
        }
        final double naive = Math.sqrt(Math.max((sumSq - sum * sum / xs.length) / xs.length, 0));
        final double exact = exact(xs, xs.length, xs[0])[1];
        assertTrue(relative(naive, exact) > 1e-3, "naive std error " + relative(naive, exact));
    }

    @Test
    void imbalanceCrossingZeroWithRegimes() {
        final Random random = new Random(3);
        final Run run = slide(20_000, 250, i -> {
            final double level = (i / 2_000) % 2 == 0 ? 0.6 : -0.05;
            return Math.max(-1, Math.min(1, level + 0.2 * random.nextGaussian()));
        }, 41);
        assertTrue(run.std < 1e-13, "std " + run.std);
    }

    @Test
    void aLevelThatDriftsFarFromTheShiftIsRecomputedRarely() {
        // a steady trend: the mean leaves the shift behind; recomputes keep it exact, not every step
        final Random random = new Random(4);
        final int steps = 30_000;
        final int width = 200;
        final Run run = slide(steps, width, i -> 50 + i * 1e-3 + 1e-4 * random.nextGaussian(), 101);
        assertTrue(run.recomputes > 0, "the drift never asked for a recompute: the test tests nothing");
        assertTrue(run.recomputes < steps / width, "recomputes " + run.recomputes);
    }

    @Test
    void aConstantWindowHasZeroStdExactly() {
        // spread constant at a new level after a jump: the shift is re-centred, std is 0, not noise
        final SlidingMoments moments = moments();
        final ArrayDeque<Double> window = new ArrayDeque<>();
        final double[] buffer = new double[100];
        for (int step = 0; step < 1_000; step++) {
            final double x = step < 500 ? 0.01 / 2500.37 * 1e4 : 0.03 / 2600.11 * 1e4;
            moments.add(x);
            window.addLast(x);
            if (window.size() > 100) {
                moments.remove(window.removeFirst());
            }
            if (moments.needsRecompute()) {
                moments.recompute(buffer, copy(window, buffer));
            }
            if (step == 450 || step == 999) {
                assertEquals(0.0, moments.std(), "step " + step);
                assertEquals(x, moments.mean(), "step " + step);
                assertEquals(0.0, moments.deviation(x));
                assertFalse(moments.needsRecompute());
            }
        }
    }

    @Test
    void aWindowThatEmptiesStartsAfresh() {
        final double[] state = new double[2 * SlidingMoments.SIZE];
        final SlidingMoments moments = new SlidingMoments(state, SlidingMoments.SIZE);
        moments.add(1e9);
        moments.add(1e9 + 1);
        moments.remove(1e9);
        moments.remove(1e9 + 1);
        assertEquals(0, moments.count());
        assertArrayEquals(new double[2 * SlidingMoments.SIZE], state); // no residue, the neighbour untouched
        moments.add(3.5);
        assertEquals(3.5, moments.mean());
        assertEquals(0.0, moments.std());
    }

    @Test
    void longRunsDoNotDrift() {
        // two million adds and removes without the window ever emptying, checked at the end
        final Random random = new Random(5);
        final Run run = slide(1_000_000, 64, i -> 10 + random.nextGaussian(), 99_999);
        assertEquals(0, run.recomputes);
        assertTrue(run.std < 1e-14 && run.z < 1e-14, "std " + run.std + ", z " + run.z);
        // the same with the shift left 50 std from the mean by a first outlier (F = 2,500, not
        // re-centred): the cancellation costs ~1e-16·F, nothing accumulates; plain double sums of
        // y and y² (no low parts) drift to ~5e-11 here
        final Run offCentre = slide(1_000_000, 64, i -> i == 0 ? 60 : 10 + random.nextGaussian(), 99_999);
        assertEquals(0, offCentre.recomputes);
        assertTrue(offCentre.std < 1e-12 && offCentre.z < 1e-12, "std " + offCentre.std + ", z " + offCentre.z);
    }

    @Test
    void widelyRangingValues() {
        // values over many orders of magnitude, and outliers: the shift's subtraction rounds
        final Random random = new Random(6);
        slide(10_000, 150, i -> random.nextInt(100) == 0 ? 1e6 * random.nextDouble() : Math.exp(5 * random.nextGaussian()), 13);
    }
}
