package io.orderbookmonitor.flink;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The alert rules of the alerts job as data: the profile (seed or adaptive), its thresholds,
 * durations, the cooldown, the adaptive baselines' parameters and which alert types are on, per
 * symbol, parsed from the JSON the job passes as the {@code rules} argument of {@link
 * AlertFunction} (flink_jobs/alerts.py writes it from the rule profiles of
 * flink_jobs/alert_profiles.py, config.AlertSettings):
 *
 * <pre>{"default": {"profile": "adaptive", "imbalance_medium": 50, ..., "flip_severity": "medium",
 *  "escalate_factor": 5, "off": []}, "symbols": {"BTCUSDT": {...}}}</pre>
 *
 * <p>Every object holds every field (the symbol's profile resolved in Python, overrides applied),
 * named as the profile's fields are; {@code escalate_factor} null means never (the seed's). One
 * symbol's rules are a {@code double[]} of {@link #SIZE} values in the slots below, so that a key's
 * state can carry them (a timer has no call arguments).
 */
final class AlertRules {

    /** The profile's numbers, in slot order (slot i holds FIELDS[i]). */
    static final List<String> FIELDS =
            List.of(
                    "imbalance_level",
                    "imbalance_medium",
                    "imbalance_high",
                    "imbalance_clear",
                    "imbalance_high_clear",
                    "imbalance_min_duration_ms",
                    "flip_threshold",
                    "flip_window_ms",
                    "spread_widening_k",
                    "spread_min_duration_ms",
                    "velocity_threshold",
                    "cooldown_ms",
                    "baseline_tau_ms",
                    "warmup_ms",
                    "min_depth_notional",
                    "imbalance_sd_floor",
                    "spread_sd_floor_frac",
                    "velocity_rms_floor",
                    "escalate_factor");

    static final int LEVEL = 0;
    static final int MEDIUM = 1;
    static final int HIGH = 2;
    static final int CLEAR = 3;
    static final int HIGH_CLEAR = 4;
    static final int EXTREME_MIN_MS = 5;
    static final int FLIP_THRESHOLD = 6;
    static final int FLIP_WINDOW_MS = 7;
    static final int SPREAD_K = 8;
    static final int SPREAD_MIN_MS = 9;
    static final int VELOCITY_THRESHOLD = 10;
    static final int COOLDOWN_MS = 11;
    static final int TAU_MS = 12;
    static final int WARMUP_MS = 13;
    static final int MIN_DEPTH = 14;
    static final int IMBALANCE_SD_FLOOR = 15;
    static final int SPREAD_SD_FLOOR_FRAC = 16;
    static final int VELOCITY_RMS_FLOOR = 17;
    /** Infinity: never escalated. */
    static final int ESCALATE = 18;
    /** Bit t set: alert type t (AlertDetector.TYPES) is off. */
    static final int OFF_MASK = 19;
    /** 0: seed, 1: adaptive. */
    static final int ADAPTIVE = 20;
    /** The severity rank of a flip (AlertDetector.SEVERITY). */
    static final int FLIP_RANK = 21;
    static final int SIZE = 22;

    static final List<String> PROFILES = List.of("seed", "adaptive");

    private final double[] defaults;
    private final Map<String, double[]> bySymbol;

    private AlertRules(double[] defaults, Map<String, double[]> bySymbol) {
        this.defaults = defaults;
        this.bySymbol = bySymbol;
    }

    /** The rules of one symbol (upper case, as the overrides are keyed). */
    double[] forSymbol(String symbol) {
        final double[] own = bySymbol.get(symbol);
        return own != null ? own : defaults;
    }

    static AlertRules parse(String json) {
        final JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (Exception e) {
            throw new IllegalArgumentException("alert rules are not JSON: " + e.getMessage(), e);
        }
        final double[] defaults = values(root.path("default"), "default");
        final Map<String, double[]> bySymbol = new HashMap<>();
        final Iterator<Map.Entry<String, JsonNode>> symbols = root.path("symbols").fields();
        while (symbols.hasNext()) {
            final Map.Entry<String, JsonNode> entry = symbols.next();
            bySymbol.put(entry.getKey(), values(entry.getValue(), entry.getKey()));
        }
        return new AlertRules(defaults, bySymbol);
    }

    private static double[] values(JsonNode node, String where) {
        if (!node.isObject()) {
            throw new IllegalArgumentException("alert rules of " + where + ": expected an object");
        }
        final double[] out = new double[SIZE];
        for (int slot = 0; slot < FIELDS.size(); slot++) {
            final JsonNode value = node.get(FIELDS.get(slot));
            if (slot == ESCALATE && value != null && value.isNull()) {
                out[slot] = Double.POSITIVE_INFINITY;
            } else if (value == null || !value.isNumber()) {
                throw new IllegalArgumentException("alert rules of " + where + ": no number " + FIELDS.get(slot));
            } else {
                out[slot] = value.doubleValue();
            }
        }
        out[ADAPTIVE] = PROFILES.indexOf(node.path("profile").asText());
        if (out[ADAPTIVE] < 0) {
            throw new IllegalArgumentException("alert rules of " + where + ": profile must be one of " + PROFILES);
        }
        out[FLIP_RANK] = Arrays.asList(AlertDetector.SEVERITY).indexOf(node.path("flip_severity").asText());
        if (out[FLIP_RANK] < 1) {
            throw new IllegalArgumentException("alert rules of " + where + ": flip_severity must be low, medium or high");
        }
        int off = 0;
        for (JsonNode type : node.path("off")) {
            final int t = AlertDetector.TYPES.indexOf(type.asText());
            if (t < 0) {
                throw new IllegalArgumentException("alert rules of " + where + ": unknown alert type " + type);
            }
            off |= 1 << t;
        }
        out[OFF_MASK] = off;
        final Iterator<String> names = node.fieldNames();
        while (names.hasNext()) {
            final String name = names.next();
            if (!List.of("off", "profile", "flip_severity").contains(name) && !FIELDS.contains(name)) {
                throw new IllegalArgumentException("alert rules of " + where + ": unknown field " + name);
            }
        }
        return out;
    }
}
