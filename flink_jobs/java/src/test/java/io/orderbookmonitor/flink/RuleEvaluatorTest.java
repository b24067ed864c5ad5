package io.orderbookmonitor.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RuleEvaluatorTest {

    private static RuleSpec rule(long id, long version, String scope, String condition, double threshold,
            long minMs, long cooldownMs) {
        return new RuleSpec(id, version, "r" + id, "spread_bps", scope, condition, threshold, minMs, cooldownMs, "high");
    }

    /** Alerts (event time, episode start) of one rule over (time, value) points. */
    private static List<long[]> run(RuleSpec rule, double[][] points) {
        final RuleSpec[] rules = {rule};
        double[] s = RuleEvaluator.align(null, rules);
        final List<long[]> out = new ArrayList<>();
        for (double[] p : points) {
            final List<RuleEvaluator.Fired> fired = new ArrayList<>();
            RuleEvaluator.step(s, rules, new double[] {p[1]}, (long) p[0], fired);
            for (RuleEvaluator.Fired f : fired) {
                out.add(new long[] {(long) p[0], f.start});
            }
        }
        return out;
    }

    @Test
    void anEpisodeFiresOnceWhenHeldAndTheCooldownHolds() {
        final double[][] points = {{0, 6}, {100, 6}, {250, 6}, {300, 1}, {400, 6}, {700, 6}, {2000, 1}, {2100, 6}, {2400, 6}};
        final List<long[]> got = run(rule(1, 1, "all", ">", 5, 200, 1000), points);
        assertEquals(2, got.size());
        assertEquals(250, got.get(0)[0]);
        assertEquals(0, got.get(0)[1]);
        // the episode from 400 reaches 200 ms at 700, inside the cooldown of the alert at 250 + 1000: no alert
        assertEquals(2400, got.get(1)[0]);
        assertEquals(2100, got.get(1)[1]);
    }

    @Test
    void aCrossNeedsAKnownPreviousValueOnTheOtherSide() {
        final double[][] points = {{0, 6}, {100, 6}, {200, Double.NaN}, {300, 6}, {400, 4}, {500, 5.5}};
        final List<long[]> got = run(rule(1, 1, "all", "crosses above", 5, 0, 0), points);
        assertEquals(1, got.size());
        assertEquals(500, got.get(0)[0]);
    }

    @Test
    void absAndBelow() {
        assertEquals(2, run(rule(1, 1, "all", "abs >", 2, 0, 0), new double[][] {{0, -3}, {1, 0}, {2, 3}}).size());
        assertEquals(1, run(rule(1, 1, "all", "<", 2, 0, 0), new double[][] {{0, -3}, {1, 1}, {2, 3}}).size());
    }

    @Test
    void aNewVersionStartsAfreshAndOtherSlotsAreKept() {
        final RuleSpec a = rule(1, 1, "all", ">", 5, 0, 60_000);
        final RuleSpec b = rule(2, 1, "all", ">", 5, 0, 60_000);
        double[] s = RuleEvaluator.align(null, new RuleSpec[] {a, b});
        RuleEvaluator.step(s, new RuleSpec[] {a, b}, new double[] {6, 6}, 0, new ArrayList<>());
        assertSame(s, RuleEvaluator.align(s, new RuleSpec[] {a, b}));
        final RuleSpec a2 = rule(1, 2, "all", ">", 5, 0, 60_000);
        final double[] t = RuleEvaluator.align(s, new RuleSpec[] {b, a2});
        final List<RuleEvaluator.Fired> fired = new ArrayList<>();
        RuleEvaluator.step(t, new RuleSpec[] {b, a2}, new double[] {1, 6}, 10, fired);
        assertEquals(1, fired.size()); // a2 fires again: no cooldown carried over from version 1
        assertEquals(1, fired.get(0).rule);
        fired.clear();
        RuleEvaluator.step(t, new RuleSpec[] {b, a2}, new double[] {6, 6}, 20, fired);
        assertTrue(fired.isEmpty()); // b's cooldown (from time 0) was kept
    }

    @Test
    void scopes() {
        assertTrue(rule(1, 1, "binance:ETH*", ">", 0, 0, 0).covers("binance", "ETHUSDT"));
        assertFalse(rule(1, 1, "binance:ETH*", ">", 0, 0, 0).covers("okx", "ETHUSDT"));
        assertTrue(rule(1, 1, "ETH?USDT", ">", 0, 0, 0).covers("okx", "ETH-USDT"));
        assertFalse(rule(1, 1, "ETH?USDT", ">", 0, 0, 0).covers("okx", "ETHUSDT"));
        assertTrue(rule(1, 1, "all", ">", 0, 0, 0).covers("x", "Y"));
        assertFalse(rule(1, 1, "a.c:X", ">", 0, 0, 0).covers("abc", "X")); // '.' is not a wildcard
    }

    @Test
    void aRuleSetGivesEachSourceItsOwnRules() {
        final RuleSpec books = rule(1, 1, "all", ">", 0, 0, 0);
        final RuleSpec bars = new RuleSpec(2, 1, "r2", "close", "*:ETH*", ">", 0, 0, 0, "low", "trades.bars:1m");
        final RuleSpec pairs = new RuleSpec(3, 1, "r3", "zscore", "binance:ETH*/*", "abs >", 2, 0, 0, "low",
                "pairs.analytics");
        final RuleSet set = RuleSet.of(List.of(books, bars, pairs));
        assertEquals(1, set.covering("binance", "ETHUSDT").length);
        assertSame(books, set.covering("orderbook.processed", "binance", "ETHUSDT")[0]);
        assertSame(bars, set.covering("trades.bars:1m", "okx", "ETH-USDT")[0]);
        assertEquals(0, set.covering("trades.bars:5m", "okx", "ETH-USDT").length); // another interval
        assertSame(pairs, set.coveringPair("pairs.analytics", "binance:ETHUSDT/binance:BTCUSDT")[0]);
        assertEquals(0, set.coveringPair("pairs.analytics", "okx:ETHUSDT/binance:BTCUSDT").length);
        assertEquals(0, set.covering("pairs.analytics", "binance", "ETHUSDT").length); // a pair scope covers no book
    }

    @Test
    void aRecordWithoutASourceWatchesTheBooksAndDecimalTextsAreValues() {
        final RuleSpec parsed = RuleSpec.parse(new org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind
                .ObjectMapper().createObjectNode().put("rule_id", 4).put("version", 1).put("name", "n")
                .put("metric", "spread_bps").put("scope", "all").put("condition", ">").put("threshold", 1.0)
                .put("min_duration_ms", 0).put("cooldown_ms", 0).put("severity", "low"));
        assertEquals(RuleSpec.DEFAULT_SOURCE, parsed.source);
        assertEquals(2511.51, RuleFunction.value("2511.51000000"));
        assertEquals(-0.5, RuleFunction.value(-0.5));
        assertTrue(Double.isNaN(RuleFunction.value(null)));
    }
}
