package io.orderbookmonitor.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The adaptive profile (docs/alerts.md, "The adaptive conditions") on hand-made sequences of one
 * key, with the profile's defaults (rarity 50 / 250, flip 1 in 1000 within 5 s, spread z 6, velocity
 * 3.5 RMS, warm-up 120 s, depth 50,000 within 10 bps, escalation at 5x, cooldown 60 s).
 *
 * <p>Each sequence: a quiet history (imbalance 0, velocity ±0.01/s, spread 1 bps, mid 100, 300 or
 * 100 lots within 10 bps each side) until {@code shift}, then 1.6 s of imbalance +0.9 (the first
 * update with velocity 0.2/s), 1.5 s of −0.9, and later 1.6 s of a 3 bps spread. By hand: the
 * velocity is 20x its RMS of 0.01 (≥ 5 · 3.5: high); +0.9 was never seen (1 in 10,000) and after
 * 1 s of it is still 1 in ~236 (high: the medium one of the same episode is in its cooldown); −0.9
 * never seen either, so the flip has both ends at 1 in 10,000 (escalated to high); the −0.9
 * extreme falls in the extremes' cooldown; the spread is ~11 sd above its 1 bps mean after 1 s
 * (medium). Thin books (20,000 within 10 bps) keep only the spread; before the warm-up nothing.
 * The values to 1e-9 are flink_jobs/alert_rules.py's (run_rules) on the same sequences; the
 * differential test compares the two engines on real books.
 */
class AdaptiveDetectorTest {

    static final String ADAPTIVE = "{\"baseline_tau_ms\": 600000, \"cooldown_ms\": 60000, \"escalate_factor\": 5.0,"
            + " \"flip_severity\": \"medium\", \"flip_threshold\": 1000.0, \"flip_window_ms\": 5000,"
            + " \"imbalance_clear\": 25.0, \"imbalance_high\": 250.0, \"imbalance_high_clear\": 125.0,"
            + " \"imbalance_level\": 5, \"imbalance_medium\": 50.0, \"imbalance_min_duration_ms\": 1000,"
            + " \"imbalance_sd_floor\": 0.02, \"min_depth_notional\": 50000.0, \"profile\": \"adaptive\","
            + " \"spread_min_duration_ms\": 1000, \"spread_sd_floor_frac\": 0.05, \"spread_widening_k\": 6.0,"
            + " \"velocity_rms_floor\": 0.005, \"velocity_threshold\": 3.5, \"warmup_ms\": 120000, \"off\": [%s]}";

    static final class Key {
        final AlertDetector detector = new AlertDetector();
        double[] state;
        final List<AlertDetector.Alert> raised = new ArrayList<>();

        Key(String off) {
            state = AlertDetector.empty(
                    AlertRules.parse("{\"default\": " + String.format(ADAPTIVE, off) + "}").forSymbol("X"));
        }

        void row(long t, double imb, double vel, double spread, double depthEach) {
            final double[] v = new double[AlertDetector.ROW - 1];
            v[AlertDetector.IMB - 1] = imb;
            v[AlertDetector.VEL - 1] = vel;
            v[AlertDetector.SPREAD_MEAN - 1] = spread;
            final double[] book = {100.0, 99.99, 100.01, 1.0, 2.0, spread, depthEach, depthEach, 1000.0, 1000.0};
            System.arraycopy(book, 0, v, AlertDetector.BOOK - 1, book.length);
            state = PendingUpdates.insert(state, t, v);
        }

        Key sequence(long shift, double depth) {
            int k = 0;
            for (long t = 0; t < shift; t += 100, k++) {
                row(t, 0.0, k % 2 == 1 ? 0.01 : -0.01, 1.0, depth);
            }
            for (long t = shift; t < shift + 1600; t += 100) {
                row(t, 0.9, t == shift ? 0.2 : 0.01, 1.0, depth);
            }
            for (long t = shift + 1600; t < shift + 3100; t += 100) {
                row(t, -0.9, 0.01, 1.0, depth);
            }
            for (long t = shift + 3100; t < shift + 7000; t += 100) {
                row(t, 0.0, 0.01, t >= shift + 4000 && t < shift + 5600 ? 3.0 : 1.0, depth);
            }
            state = detector.release(state, Long.MAX_VALUE, raised);
            return this;
        }

        List<String> alerts() {
            final List<String> out = new ArrayList<>();
            for (AlertDetector.Alert a : raised) {
                out.add(a.toString().replaceAll(":[^:]*$", ""));
            }
            return out;
        }
    }

    @Test
    void warmDeepBooksRaiseEveryRuleOnce() {
        final Key key = new Key("").sequence(130_000, 300.0);
        assertEquals(
                List.of(
                        "velocity_spike:high:130000-130000",
                        "imbalance_extreme:high:130000-131000",
                        "imbalance_flip:high:130000-131600",
                        "spread_widening:medium:134000-135000"),
                key.alerts());
        final AlertDetector.Alert velocity = key.raised.get(0);
        assertEquals(20.0, velocity.metric, 1e-9);
        assertEquals(3.5, velocity.threshold);
        assertEquals(0.2, velocity.context[0]); // value
        assertEquals(0.01, velocity.context[4], 1e-12); // baseline RMS
        assertEquals(60_000.0, velocity.context[5]); // depth notional
        assertEquals("imbalance velocity +0.200/s, 20.0x its usual 0.010/s", AlertText.of(velocity));

        final AlertDetector.Alert extreme = key.raised.get(1);
        assertEquals(235.56931213211197, extreme.metric, 1e-9 * 235.57);
        assertEquals(0.007641063191586366, extreme.context[1], 1e-12); // baseline mean
        assertEquals(0.0825746391195863, extreme.context[2], 1e-12); // baseline std
        assertEquals(0.9957549648935631, extreme.context[3], 1e-12); // percentile
        assertEquals(100.0, extreme.context[AlertDetector.CONTEXT_VALUES]); // the book's mid
        assertEquals(
                "top-5 imbalance +0.90, 1 in 236 for this symbol, percentile 99.6 (bid-heavy), held 1.0 s",
                AlertText.of(extreme));

        final AlertDetector.Alert flip = key.raised.get(2);
        assertEquals(-10_000.0, flip.metric);
        assertEquals(10_000.0, flip.detail);
        assertEquals(0.0, flip.context[3]);
        assertEquals(
                "imbalance flipped to -0.90 in 1.6 s, 1 in 10000 then 1 in 10000 the other way for this symbol",
                AlertText.of(flip));

        final AlertDetector.Alert spread = key.raised.get(3);
        assertEquals(10.954091559604828, spread.metric, 1e-9 * 11);
        assertEquals(1.0165300018600858, spread.context[1], 1e-12);
        assertEquals(0.18107115385581718, spread.context[2], 1e-12);
        assertEquals(0.9958647678368329, spread.context[3], 1e-12);
        assertEquals(
                "spread 3.00 bps, 11.0 sd above its usual 1.02 bps, percentile 99.6, for 1.0 s", AlertText.of(spread));
    }

    @Test
    void aThinBookCannotTriggerTheImbalanceRules() {
        final Key key = new Key("").sequence(130_000, 100.0);
        assertEquals(List.of("spread_widening:medium:134000-135000"), key.alerts());
        assertEquals(20_000.0, key.raised.get(0).context[5]);
    }

    @Test
    void nothingBeforeTheWarmUp() {
        assertEquals(List.of(), new Key("").sequence(60_000, 300.0).alerts());
    }

    @Test
    void rulesSwitchedOffRaiseNothingAndTheOthersStay() {
        final Key key = new Key("\"imbalance_extreme\", \"velocity_spike\"").sequence(130_000, 300.0);
        assertEquals(
                List.of("imbalance_flip:high:130000-131600", "spread_widening:medium:134000-135000"), key.alerts());
    }

    @Test
    void profilesAndSeveritiesAreChecked() {
        assertThrows(IllegalArgumentException.class,
                () -> AlertRules.parse("{\"default\": " + String.format(ADAPTIVE, "").replace("\"adaptive\"", "\"x\"") + "}"));
        assertThrows(IllegalArgumentException.class,
                () -> AlertRules.parse("{\"default\": " + String.format(ADAPTIVE, "").replace("\"medium\"", "\"huge\"") + "}"));
    }
}
