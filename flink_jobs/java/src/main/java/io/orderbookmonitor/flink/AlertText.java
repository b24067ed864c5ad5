package io.orderbookmonitor.flink;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * The text of an alert after its symbol (the job's SQL puts the symbol in front: the message is
 * "{symbol} {text}", docs/metrics.md), with numbers formatted as Python's format spec does
 * ({@code .2f}, {@code +.2f}): rounded half-even on the exact binary value, which Java's
 * {@code String.format} does not do (it rounds the shortest decimal string half-up: 0.125 gives
 * 0.13 there and 0.12 in Python).
 */
final class AlertText {

    private AlertText() {}

    static String of(AlertDetector.Alert a) {
        final String held = fixed((double) (a.end - a.start) / 1000, 1, false);
        if (a.adaptive) {
            return adaptive(a, held);
        }
        switch (a.type) {
            case AlertDetector.EXTREME: {
                final boolean bid = a.metric > 0;
                final String bound = bid ? ">= " + fixed(a.threshold, 2, false) : "<= " + fixed(-a.threshold, 2, false);
                return "top-" + (long) a.detail + " imbalance " + fixed(a.metric, 2, true) + " " + bound + " for "
                        + held + " s (" + (bid ? "bid" : "ask") + "-heavy)";
            }
            case AlertDetector.FLIP:
                return "imbalance flipped from " + fixed(a.detail, 2, true) + " to " + fixed(a.metric, 2, true) + " in "
                        + held + " s (|imbalance| >= " + fixed(a.threshold, 2, false) + " on both sides)";
            case AlertDetector.SPREAD:
                return "spread " + fixed(a.detail, 2, false) + " bps is " + fixed(a.metric, 2, false)
                        + "x its rolling mean (>= " + fixed(a.threshold, 2, false) + "x) for " + held + " s";
            default:
                return "imbalance velocity " + fixed(a.metric, 3, true) + "/s, |v| >= " + fixed(a.threshold, 3, false)
                        + "/s";
        }
    }

    /**
     * An adaptive alert's text: why it is unusual for this symbol, in words, as
     * flink_jobs/alert_rules.py Alert.adaptive_message writes it after the symbol.
     */
    private static String adaptive(AlertDetector.Alert a, String held) {
        final double[] c = a.context;
        final double value = c[0];
        final String where = Double.isNaN(c[3]) ? "" : ", percentile " + fixed(100 * c[3], 1, false);
        switch (a.type) {
            case AlertDetector.EXTREME:
                return "top-" + fixed(a.detail, 0, false) + " imbalance " + fixed(value, 2, true) + ", 1 in "
                        + fixed(Math.abs(a.metric), 0, false) + " for this symbol" + where + " ("
                        + (a.metric > 0 ? "bid" : "ask") + "-heavy), held " + held + " s";
            case AlertDetector.FLIP:
                return "imbalance flipped to " + fixed(value, 2, true) + " in " + held + " s, 1 in "
                        + fixed(Math.abs(a.detail), 0, false) + " then 1 in " + fixed(Math.abs(a.metric), 0, false)
                        + " the other way for this symbol";
            case AlertDetector.SPREAD:
                return "spread " + fixed(value, 2, false) + " bps, " + fixed(a.metric, 1, false) + " sd above its usual "
                        + fixed(c[1], 2, false) + " bps" + where + ", for " + held + " s";
            default:
                return "imbalance velocity " + fixed(value, 3, true) + "/s, " + fixed(Math.abs(a.metric), 1, false)
                        + "x its usual " + fixed(c[4], 3, false) + "/s";
        }
    }

    /** Python's f"{x:.{digits}f}" (with {@code plus}: f"{x:+.{digits}f}"). */
    static String fixed(double x, int digits, boolean plus) {
        final boolean negative = Double.doubleToRawLongBits(x) < 0 && !Double.isNaN(x);
        final String sign = negative ? "-" : plus ? "+" : "";
        if (Double.isNaN(x)) {
            return sign + "nan";
        }
        if (Double.isInfinite(x)) {
            return sign + "inf";
        }
        return sign + new BigDecimal(Math.abs(x)).setScale(digits, RoundingMode.HALF_EVEN).toPlainString();
    }
}
