package io.orderbookmonitor.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.ArrayData;
import org.apache.flink.table.data.GenericArrayData;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * The sums over book levels that the metrics job's per-book metrics are ratios of, in one pass
 * over the four arrays of an orderbook.raw record: cumulative sizes per side (the SQL takes the
 * N-th element for imbalance over the top N levels and for VTOB), distance-weighted sizes and the
 * size within each depth band. The metric formulas themselves stay in the job's SQL.
 *
 * <p>Why a function: the same sums written in SQL read each of the 80 array elements into its own
 * column and add them in some 250 generated expressions, which cost more CPU than decoding the
 * record (docs/benchmarks.md, Flink jobs); a loop over primitive doubles is a fraction of that.
 * The arithmetic is the SQL's, term by term and in the same order, so the results are the same
 * doubles.
 *
 * <p>Declared non-deterministic only so the planner never copies the call into every use of its
 * result (it merges projections by inlining, and would evaluate the call once per field read).
 */
public class BookSumsFunction extends ScalarFunction {

    private static final String ARRAY = "ARRAY<DOUBLE>";

    /**
     * @param levels the number of levels read per side (book_levels)
     * @param lambda weight decay per bps of distance from mid (weighted_imbalance_lambda)
     * @param lowFactors per depth band, the factor of mid that is the band's bid bound (1 - X/100)
     * @param highFactors per depth band, the factor of mid that is the band's ask bound (1 + X/100)
     * @return all fields NULL when a side is empty (no mid); otherwise ROW(cumulative bid sizes and ask sizes
     *     by level, 1..levels, a level past the end of the book adding 0; weighted bid and ask
     *     sizes, NULL unless mid > 0; bid and ask size within each band; per band, whether the
     *     deepest level read reaches it on both sides)
     */
    @DataTypeHint(
            value =
                    "ROW<cum_bid ARRAY<DOUBLE NOT NULL>, cum_ask ARRAY<DOUBLE NOT NULL>, wsum_bid DOUBLE,"
                            + " wsum_ask DOUBLE, depth_bid ARRAY<DOUBLE NOT NULL>, depth_ask ARRAY<DOUBLE NOT NULL>,"
                            + " depth_complete ARRAY<BOOLEAN NOT NULL>>",
            bridgedTo = RowData.class)
    public RowData eval(
            @DataTypeHint(value = ARRAY, bridgedTo = ArrayData.class) ArrayData bidPrices,
            @DataTypeHint(value = ARRAY, bridgedTo = ArrayData.class) ArrayData bidSizes,
            @DataTypeHint(value = ARRAY, bridgedTo = ArrayData.class) ArrayData askPrices,
            @DataTypeHint(value = ARRAY, bridgedTo = ArrayData.class) ArrayData askSizes,
            Integer levels,
            Double lambda,
            @DataTypeHint(value = ARRAY, bridgedTo = ArrayData.class) ArrayData lowFactors,
            @DataTypeHint(value = ARRAY, bridgedTo = ArrayData.class) ArrayData highFactors) {
        final Double bestBid = element(bidPrices, 0);
        final Double bestAsk = element(askPrices, 0);
        if (bestBid == null || bestAsk == null || levels == null || levels < 0 || lambda == null) {
            // a row of NULLs, not a NULL row: Flink's generated field access on a NULL row of a
            // function result does not give NULL (seen: -1.0, -0.0)
            return new GenericRowData(7);
        }
        final double mid = (bestBid + bestAsk) / 2;
        // no band without both bounds (a NULL factor array has none; a NULL factor is NaN)
        final int bands = lowFactors == null || highFactors == null ? 0 : Math.min(lowFactors.size(), highFactors.size());
        final double[] depthBid = new double[bands];
        final double[] depthAsk = new double[bands];
        final boolean[] complete = new boolean[bands];
        final double[] low = new double[bands];
        final double[] high = new double[bands];
        for (int k = 0; k < bands; k++) {
            low[k] = mid * orNaN(element(lowFactors, k));
            high[k] = mid * orNaN(element(highFactors, k));
        }
        final double[] cumBid = new double[levels];
        final double[] cumAsk = new double[levels];
        final Double wsumBid = side(bidPrices, bidSizes, levels, mid, lambda, cumBid, low, depthBid, true);
        final Double wsumAsk = side(askPrices, askSizes, levels, mid, lambda, cumAsk, high, depthAsk, false);
        final Double deepestBid = element(bidPrices, Math.min(bidPrices.size(), levels) - 1);
        final Double deepestAsk = element(askPrices, Math.min(askPrices.size(), levels) - 1);
        for (int k = 0; k < bands; k++) {
            complete[k] = deepestBid != null && deepestAsk != null && deepestBid <= low[k] && deepestAsk >= high[k];
        }
        return GenericRowData.of(
                new GenericArrayData(cumBid),
                new GenericArrayData(cumAsk),
                wsumBid,
                wsumAsk,
                new GenericArrayData(depthBid),
                new GenericArrayData(depthAsk),
                new GenericArrayData(complete));
    }

    /**
     * One side: cumulative sizes into {@code cum}, band sizes into {@code depth} (a bid counts when
     * its price is at or above the band's bound, an ask at or below), and the weighted size.
     */
    private static Double side(
            ArrayData prices,
            ArrayData sizes,
            int levels,
            double mid,
            double lambda,
            double[] cum,
            double[] bounds,
            double[] depth,
            boolean bid) {
        double running = 0;
        double weighted = 0;
        for (int i = 0; i < levels; i++) {
            final Double p = element(prices, i);
            final Double q = element(sizes, i);
            if (q != null) {
                running += q;
            }
            cum[i] = running;
            if (p != null && q != null) {
                weighted += q * Math.exp(-lambda * Math.abs(p - mid) / mid * 10000);
                for (int k = 0; k < depth.length; k++) {
                    if (bid ? p >= bounds[k] : p <= bounds[k]) {
                        depth[k] += q;
                    }
                }
            }
        }
        return mid > 0 ? weighted : null;
    }

    /** The i-th element, or null: past either end, a NULL element or a NULL array (a side may
     * be NULL; the function never throws on the rows it can be given). */
    private static Double element(ArrayData array, int i) {
        return array == null || i < 0 || i >= array.size() || array.isNullAt(i) ? null : array.getDouble(i);
    }

    private static double orNaN(Double value) {
        return value == null ? Double.NaN : value;
    }

    @Override
    public boolean isDeterministic() {
        return false;
    }
}
