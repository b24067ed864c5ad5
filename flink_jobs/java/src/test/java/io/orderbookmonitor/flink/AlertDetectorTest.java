package io.orderbookmonitor.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The rules of docs/metrics.md (Alerts) on crafted sequences of one key, written out by hand, with
 * the default settings (medium 0.5/0.4, high 0.7/0.6, 1 s, flip 0.5 in 5 s, spread 2x for 1 s,
 * velocity 0.05, cooldown 30 s). The Python reference (tests/flink/reference_alerts.py) checks
 * the same engine through Flink on random walks and the real capture.
 */
class AlertDetectorTest {

    private static final double NONE = Double.NaN;

    /** One symbol's rules: the defaults with a cooldown and extra fields. */
    static String body(int cooldownMs, String extra) {
        return "{\"imbalance_level\": 5, \"imbalance_medium\": 0.5, \"imbalance_high\": 0.7,"
                + " \"imbalance_clear\": 0.4, \"imbalance_high_clear\": 0.6, \"imbalance_min_duration_ms\": 1000,"
                + " \"flip_threshold\": 0.5, \"flip_window_ms\": 5000, \"spread_widening_k\": 2.0,"
                + " \"spread_min_duration_ms\": 1000, \"velocity_threshold\": 0.05, \"cooldown_ms\": " + cooldownMs
                + ", \"baseline_tau_ms\": 600000, \"warmup_ms\": 120000, \"min_depth_notional\": 0.0,"
                + " \"imbalance_sd_floor\": 0.02, \"spread_sd_floor_frac\": 0.05, \"velocity_rms_floor\": 0.005,"
                + " \"escalate_factor\": null, \"profile\": \"seed\", \"flip_severity\": \"high\""
                + extra + "}";
    }

    static String rules(String extra) {
        return "{\"default\": " + body(30_000, extra) + ", \"symbols\": {}}";
    }

    /** A key fed update by update, released up to a watermark. */
    static final class Key {
        final AlertDetector detector = new AlertDetector();
        double[] state;
        final List<AlertDetector.Alert> raised = new ArrayList<>();

        Key(String overrides) {
            state = AlertDetector.empty(AlertRules.parse(rules(overrides)).forSymbol("X"));
        }

        Key() {
            this("");
        }

        Key imb(long t, double imbalance) {
            return row(t, imbalance, NONE, NONE, NONE);
        }

        Key row(long t, double imbalance, double velocity, double spread, double mean) {
            final double[] values = new double[AlertDetector.ROW - 1];
            java.util.Arrays.fill(values, NONE);
            values[AlertDetector.IMB - 1] = imbalance;
            values[AlertDetector.VEL - 1] = velocity;
            values[AlertDetector.SPREAD_MEAN - 1] = mean;
            values[AlertDetector.BOOK - 1 + AlertDetector.SPREAD_BPS] = spread;
            state = PendingUpdates.insert(state, t, values);
            return this;
        }

        Key imbs(long from, long to, double imbalance) {
            for (long t = from; t <= to; t += 100) {
                imb(t, imbalance);
            }
            return this;
        }

        List<String> release(long upTo) {
            state = detector.release(state, upTo, raised);
            final List<String> out = new ArrayList<>();
            for (AlertDetector.Alert a : raised) {
                out.add(a.toString());
            }
            return out;
        }

        List<String> all() {
            return release(Long.MAX_VALUE);
        }
    }

    @Test
    void extremeConfirmedAfterTheMinimumDurationThroughTheHysteresisBand() {
        final Key key = new Key().imb(0, 0.1).imb(100, 0.55).imbs(200, 1000, 0.45).imb(1100, 0.52).imb(1200, 0.3);
        assertEquals(List.of("imbalance_extreme:medium:100-1100:0.52"), key.all());
    }

    @Test
    void aDipBelowTheClearLevelRestartsTheEpisode() {
        final Key key = new Key().imb(0, 0.1).imbs(100, 500, 0.55).imb(600, 0.38).imbs(700, 1100, 0.55).imb(1200, 0.2);
        assertEquals(List.of(), key.all());
    }

    @Test
    void mediumAndHighOnOneUpdateRaiseOnlyTheHighOne() {
        final Key key = new Key().imb(0, 0).imbs(100, 1100, -0.8).imb(1200, 0);
        assertEquals(List.of("imbalance_extreme:high:100-1100:-0.8"), key.all());
    }

    @Test
    void cooldownYieldsToAHigherSeverityButNotToAnEqualOne() {
        final Key key = new Key()
                .imb(0, 0.1).imbs(100, 1100, 0.55).imbs(1200, 2200, 0.75).imb(2300, 0.2)
                .imbs(2400, 3400, 0.55).imb(3500, 0.2).imbs(33_000, 34_000, 0.55).imb(34_100, 0.1);
        assertEquals(
                List.of(
                        "imbalance_extreme:medium:100-1100:0.55",
                        "imbalance_extreme:high:1200-2200:0.75",
                        "imbalance_extreme:medium:33000-34000:0.55"),
                key.all());
    }

    @Test
    void aConfirmationMoreThanTheGraceAfterTheMinimumIsNone() {
        final Key late = new Key().imb(0, 0.6).imb(61_001, 0.6);
        assertEquals(List.of(), late.all());
        final Key onTime = new Key().imb(0, 0.6).imb(61_000, 0.6);
        assertEquals(List.of("imbalance_extreme:medium:0-61000:0.6"), onTime.all());
    }

    @Test
    void flipFromTheEarliestStartStillInTheWindow() {
        // two bid-heavy extremes, then the ask side 5.5 s after the first and 4.5 s after the second
        // (extremes off: the bid-heavy episode held 1 s)
        final Key key = new Key(", \"off\": [\"imbalance_extreme\"]").imb(0, 0.6).imb(1000, 0.7).imb(2000, 0.1).imb(5500, -0.55).imb(5600, 0);
        assertEquals(List.of("imbalance_flip:high:1000-5500:-0.55"), key.all());
        assertEquals("imbalance flipped from +0.70 to -0.55 in 4.5 s (|imbalance| >= 0.50 on both sides)",
                AlertText.of(key.raised.get(0)));
    }

    @Test
    void theEndOfAFlipIsTheStartOfTheNext() {
        final Key key = new Key().imb(0, 0.6).imb(1000, -0.6).imb(2000, 0.6);
        // the second flip (1000 -> 2000) is inside the cooldown of the first
        assertEquals(List.of("imbalance_flip:high:0-1000:-0.6"), key.all());
        final Key noCooldown = new Key();
        noCooldown.state[AlertRules.COOLDOWN_MS] = 0;
        noCooldown.imb(0, 0.6).imb(1000, -0.6).imb(2000, 0.6);
        assertEquals(
                List.of("imbalance_flip:high:0-1000:-0.6", "imbalance_flip:high:1000-2000:0.6"), noCooldown.all());
    }

    @Test
    void spreadWideningAndVelocityOnsets() {
        final Key key = new Key().row(0, 0, NONE, 2.0, 2.0);
        for (long t = 100; t <= 1200; t += 100) {
            key.row(t, 0, NONE, 5.0, 2.0);
        }
        key.row(1300, 0, 0.06, 2.0, 2.1).row(1400, 0, 0.07, 2.0, 2.1).row(1500, 0, NONE, 2.0, 2.1);
        assertEquals(
                List.of("spread_widening:medium:100-1100:2.5", "velocity_spike:low:1300-1300:0.06"), key.all());
        assertEquals("spread 5.00 bps is 2.50x its rolling mean (>= 2.00x) for 1.0 s", AlertText.of(key.raised.get(0)));
        assertEquals("imbalance velocity +0.060/s, |v| >= 0.050/s", AlertText.of(key.raised.get(1)));
    }

    @Test
    void updatesWaitForTheWatermarkAndAreTakenInEventTimeOrder() {
        final Key key = new Key().imb(0, 0.1).imb(200, 0.55).imb(100, 0.55); // 100 arrives after 200
        key.imbs(300, 1100, 0.55);
        assertEquals(List.of(), key.release(1099));
        assertEquals(1, AlertDetector.pending(key.state));
        assertEquals(1100, AlertDetector.earliest(key.state));
        assertEquals(List.of("imbalance_extreme:medium:100-1100:0.55"), key.release(1100));
        assertEquals(0, AlertDetector.pending(key.state));
    }

    @Test
    void equalEventTimesKeepArrivalOrder() {
        // the same time twice: the later arrival is the later update (its 0.3 ends the episode)
        final Key key = new Key().imb(0, 0.6).imb(500, 0.6).imb(500, 0.3).imb(1000, 0.6);
        assertEquals(List.of(), key.all());
    }

    @Test
    void aTypeSwitchedOffRaisesNothing() {
        final Key key = new Key(", \"off\": [\"imbalance_extreme\"]").imb(0, 0).imbs(100, 1100, -0.8);
        assertEquals(List.of(), key.all());
        assertThrows(IllegalArgumentException.class, () -> AlertRules.parse(rules(", \"off\": [\"nope\"]")));
        assertThrows(IllegalArgumentException.class, () -> AlertRules.parse(rules(", \"imbalance_hgih\": 1")));
    }

    @Test
    void symbolsWithoutOverridesGetTheDefaults() {
        final AlertRules parsed = AlertRules.parse(
                "{\"default\": " + body(30_000, "") + ", \"symbols\": {\"BTCUSDT\": " + body(1000, "") + "}}");
        assertEquals(1000, parsed.forSymbol("BTCUSDT")[AlertRules.COOLDOWN_MS]);
        assertEquals(30000, parsed.forSymbol("ETHUSDT")[AlertRules.COOLDOWN_MS]);
        assertTrue(parsed.forSymbol("ETHUSDT")[AlertRules.OFF_MASK] == 0);
    }

    @Test
    void textFormatsNumbersAsPythonDoes() {
        assertEquals("+0.12", AlertText.fixed(0.125, 2, true));
        assertEquals("1.00", AlertText.fixed(1.005, 2, false));
        assertEquals("-0.00", AlertText.fixed(-0.001, 2, true));
        assertEquals("-0.00", AlertText.fixed(-0.0, 2, true));
        assertEquals("+0.000", AlertText.fixed(0.0, 3, true));
        assertEquals("2.67", AlertText.fixed(2.675, 2, false));
        assertEquals("0.2", AlertText.fixed(0.25, 1, false));
        assertEquals("0.3", AlertText.fixed(0.35, 1, false));
        assertEquals("123456.79", AlertText.fixed(123456.785, 2, false));
        assertEquals("nan", AlertText.fixed(Double.NaN, 2, false));
        final Key key = new Key().imb(0, 0).imbs(100, 1100, -0.8);
        key.all();
        assertEquals("top-5 imbalance -0.80 <= -0.70 for 1.0 s (ask-heavy)", AlertText.of(key.raised.get(0)));
    }
}
