package io.orderbookmonitor.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * AlertFunction's merge of the updates that arrived since a release into the detector's array:
 * the same array as inserting them one by one in arrival order ({@link AlertDetector#insert}, the
 * order the job used before the updates waited in a list view), out-of-order times and ties
 * included, in both profiles and with waiting updates and flip starts already in the array.
 */
class AlertFunctionTest {

    private static double[] row(Random random, long time) {
        final double[] row = new double[AlertDetector.ROW];
        row[0] = time;
        for (int k = 1; k < row.length; k++) {
            row[k] = random.nextInt(5) == 0 ? Double.NaN : random.nextDouble();
        }
        return row;
    }

    private static double[] values(double[] row) {
        final double[] values = new double[AlertDetector.ROW - 1];
        System.arraycopy(row, 1, values, 0, values.length);
        return values;
    }

    @Test
    void mergeEqualsInsertingInArrivalOrder() {
        final Random random = new Random(21);
        for (String profile : List.of("seed", "adaptive")) {
            final String rules = AlertDetectorTest.rules("").replace("\"profile\": \"seed\"", "\"profile\": \"" + profile + "\"");
            for (int trial = 0; trial < 200; trial++) {
                double[] state = AlertDetector.empty(AlertRules.parse(rules).forSymbol("X"));
                // some waiting updates and flip starts already there
                for (int k = random.nextInt(4); k > 0; k--) {
                    state = PendingUpdates.insert(state, random.nextInt(20), values(row(random, 0)));
                }
                final int flips = random.nextInt(3);
                final double[] withFlips = new double[state.length + 2 * flips];
                System.arraycopy(state, 0, withFlips, 0, state.length);
                for (int k = 0; k < 2 * flips; k++) {
                    withFlips[state.length + k] = random.nextDouble();
                }
                withFlips[AlertDetector.FLIPS] = flips;
                state = withFlips;
                final List<double[]> arrived = new ArrayList<>();
                for (int k = random.nextInt(12); k > 0; k--) {
                    arrived.add(row(random, random.nextInt(20)));
                }
                double[] expected = state;
                for (double[] r : arrived) {
                    expected = PendingUpdates.insert(expected, (long) r[0], values(r));
                }
                final double[] merged = AlertFunction.merge(state, arrived);
                assertEquals(expected.length, merged.length);
                assertArrayEquals(expected, merged, profile + " trial " + trial);
            }
        }
    }
}
