package io.orderbookmonitor.flink;

/**
 * The reference of how pending updates enter a detector's state, one at a time, for the tests:
 * AlertFunction keeps them in list views and merges a bundle at once ({@code AlertFunction.merge}),
 * which must give the same array.
 */
final class PendingUpdates {

    private PendingUpdates() {}

    /**
     * The state with one more pending update, after those at or before its time (arrival order):
     * {@code values} are the ROW − 1 values after the time (imbalance, velocity, ...).
     */
    static double[] insert(double[] state, long time, double[] values) {
        final int n = AlertDetector.pending(state);
        final int base = AlertDetector.base(state);
        int at = n;
        while (at > 0 && state[base + (at - 1) * AlertDetector.ROW] > time) {
            at--;
        }
        final double[] out = new double[state.length + AlertDetector.ROW];
        final int split = base + at * AlertDetector.ROW;
        System.arraycopy(state, 0, out, 0, split);
        out[split] = time;
        System.arraycopy(values, 0, out, split + 1, AlertDetector.ROW - 1);
        System.arraycopy(state, split, out, split + AlertDetector.ROW, state.length - split);
        out[AlertDetector.PENDING] = n + 1;
        return out;
    }
}
