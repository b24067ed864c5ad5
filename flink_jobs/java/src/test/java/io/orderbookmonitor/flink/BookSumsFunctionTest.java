package io.orderbookmonitor.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.RowData;
import org.junit.jupiter.api.Test;

/**
 * BookSumsFunction's sums over levels against the definitions of docs/metrics.md written out here
 * level by level (cumulative sizes, exp(-λ·|p − mid|/mid·10^4)-weighted sizes, size within each
 * depth band and band completeness).
 */
class BookSumsFunctionTest {

    private static final double LAMBDA = 0.1;
    private static final double[] PCTS = {0.1, 0.5, 1.0};

    private static ArrayData array(double... values) {
        return new GenericArrayData(values);
    }

    private static RowData sums(double[] bp, double[] bq, double[] ap, double[] aq, int levels) {
        final double[] low = new double[PCTS.length];
        final double[] high = new double[PCTS.length];
        for (int k = 0; k < PCTS.length; k++) {
            low[k] = 1 - PCTS[k] / 100;
            high[k] = 1 + PCTS[k] / 100;
        }
        return new BookSumsFunction()
                .eval(array(bp), array(bq), array(ap), array(aq), levels, LAMBDA, array(low), array(high));
    }

    @Test
    void sumsOfARandomBookFollowTheDefinitions() {
        final Random random = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            final int bids = 1 + random.nextInt(25);
            final int asks = 1 + random.nextInt(25);
            final int levels = 20;
            final double tick = 0.01;
            final double bestBid = 2500 + random.nextInt(1000) * tick;
            final double[] bp = new double[bids];
            final double[] bq = new double[bids];
            final double[] ap = new double[asks];
            final double[] aq = new double[asks];
            double p = bestBid;
            for (int i = 0; i < bids; i++) {
                bp[i] = p;
                bq[i] = random.nextInt(100_000) / 1000.0;
                p -= tick * (1 + random.nextInt(400));
            }
            p = bestBid + tick * (1 + random.nextInt(3));
            for (int i = 0; i < asks; i++) {
                ap[i] = p;
                aq[i] = random.nextInt(100_000) / 1000.0;
                p += tick * (1 + random.nextInt(400));
            }
            final RowData row = sums(bp, bq, ap, aq, levels);
            final double mid = (bp[0] + ap[0]) / 2;
            checkSide(row.getArray(0), row.getDouble(2), row.getArray(4), bp, bq, mid, levels, true);
            checkSide(row.getArray(1), row.getDouble(3), row.getArray(5), ap, aq, mid, levels, false);
            final double deepestBid = bp[Math.min(bids, levels) - 1];
            final double deepestAsk = ap[Math.min(asks, levels) - 1];
            for (int k = 0; k < PCTS.length; k++) {
                final boolean complete =
                        deepestBid <= mid * (1 - PCTS[k] / 100) && deepestAsk >= mid * (1 + PCTS[k] / 100);
                assertEquals(complete, row.getArray(6).getBoolean(k), "band " + k);
            }
        }
    }

    private static void checkSide(
            ArrayData cum, double weighted, ArrayData depth, double[] p, double[] q, double mid, int levels, boolean bid) {
        assertEquals(levels, cum.size());
        double running = 0;
        double wsum = 0;
        final double[] band = new double[PCTS.length];
        for (int i = 0; i < levels; i++) {
            if (i < p.length) {
                running += q[i];
                wsum += q[i] * Math.exp(-LAMBDA * Math.abs(p[i] - mid) / mid * 10000);
                for (int k = 0; k < PCTS.length; k++) {
                    final boolean inside = bid ? p[i] >= mid * (1 - PCTS[k] / 100) : p[i] <= mid * (1 + PCTS[k] / 100);
                    band[k] += inside ? q[i] : 0;
                }
            }
            assertEquals(running, cum.getDouble(i), 1e-12 * running, "cumulative size at level " + (i + 1));
        }
        assertEquals(wsum, weighted, 1e-12 * wsum);
        assertArrayEquals(band, depth.toDoubleArray(), 1e-9);
    }

    @Test
    void levelsPastTheEndOfTheBookAddNothing() {
        final RowData row = sums(new double[] {100, 99}, new double[] {1, 2}, new double[] {101}, new double[] {4}, 5);
        assertArrayEquals(new double[] {1, 3, 3, 3, 3}, row.getArray(0).toDoubleArray());
        assertArrayEquals(new double[] {4, 4, 4, 4, 4}, row.getArray(1).toDoubleArray());
        // only three levels read of a deeper book
        final RowData cut = sums(new double[] {100, 99, 98, 97}, new double[] {1, 1, 1, 1}, new double[] {101},
                new double[] {1}, 3);
        assertArrayEquals(new double[] {1, 2, 3}, cut.getArray(0).toDoubleArray());
        // the deepest level read is 98, inside the 1% band of mid 100.5 (99.495): not complete
        assertFalse(cut.getArray(6).getBoolean(2));
    }

    @Test
    void bandsCountTheLevelsOnTheirBounds() {
        // mid 100: the 1% band is [99, 101]; levels exactly on the bounds count, just outside not
        final RowData row = sums(new double[] {99.5, 99, 98.99}, new double[] {1, 2, 4}, new double[] {100.5, 101, 101.01},
                new double[] {8, 16, 32}, 20);
        assertEquals(3, row.getArray(4).getDouble(2));
        assertEquals(24, row.getArray(5).getDouble(2));
        assertTrue(row.getArray(6).getBoolean(2));
    }

    @Test
    void anEmptySideGivesARowOfNulls() {
        final RowData row = sums(new double[] {}, new double[] {}, new double[] {101}, new double[] {1}, 20);
        assertEquals(7, row.getArity());
        for (int i = 0; i < 7; i++) {
            assertTrue(row.isNullAt(i), "field " + i);
        }
    }

    @Test
    void weightedSizesAreNullWithoutAPositiveMid() {
        final RowData row = sums(new double[] {-1}, new double[] {1}, new double[] {0}, new double[] {1}, 20);
        assertNull(row.isNullAt(2) ? null : row.getDouble(2));
        assertNull(row.isNullAt(3) ? null : row.getDouble(3));
    }
}
