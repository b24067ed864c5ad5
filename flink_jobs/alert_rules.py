"""The alert rules as one pass over each key's processed records, with state per key: today's
rules exactly (profile `seed`, the same alerts as tests/flink/reference_alerts.py) and the adaptive
conditions (profile `adaptive`, alert_profiles.py). Pure logic, no Flink: `obm alerts evaluate`
and `calibrate` run it over captures and stored history, and it is the definition the streaming
engine of issue 21 implements per record (docs/alerts.md, "For the streaming engine").

Per record of a key, in order: (1) candidates waiting from an earlier event time are decided
(cooldown); (2) the adaptive baselines advance to this record's time and give its scores; (3) each
rule's state machine takes the score and may produce a candidate at this record's event time.
Candidates of one event time are decided together once a later event time arrives (or at flush),
in severity-descending, then episode-start order: the order of the SQL job's cooldown, which
decides a timestamp once the watermark has passed it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config import AlertSettings
from flink_jobs.alert_baseline import Baseline, DecayedHistogram, RootMeanSquare
from flink_jobs.alert_profiles import RuleProfile, profile_for

GRACE_MS = 60_000  # a confirmation must come at most min duration + 60 s after the episode start
RANK = {"low": 1, "medium": 2, "high": 3}
IMBALANCE_BINS = 100  # of 0.02 over [-1, 1]: the imbalance's rolling distribution
BOOK_FIELDS = (
    "mid", "best_bid", "best_ask", "best_bid_size", "best_ask_size", "spread_bps",
    "depth_bid_10bps", "depth_ask_10bps", "depth_bid_50bps", "depth_ask_50bps",
)  # fmt: skip


@dataclass
class Alert:
    """One alert: the fields of orderbook.alerts, the direction it points to (+1 bid-heavy / up,
    -1, 0 none) and the context that explains it."""

    alert_type: str
    severity: str
    exchange: str
    market: str
    symbol: str
    window_start: int
    window_end: int
    metric_value: float
    threshold: float
    detail: float | None
    direction: int
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def event_time(self) -> int:
        return self.window_end

    @property
    def rank(self) -> int:
        return RANK[self.severity]

    def as_tuple(self) -> tuple:
        """The reference's form (tests/flink/reference_alerts.py ALERT_FIELDS)."""
        return (
            self.alert_type, self.severity, self.exchange, self.symbol, self.window_start,
            self.window_end, self.metric_value, self.threshold,
        )  # fmt: skip

    def adaptive_message(self) -> str:
        """The message of an adaptive alert: why it is unusual for this symbol, in words (the seed's
        messages are flink_jobs/alert_cooldown.alert_message's)."""
        c, held = self.context, (self.window_end - self.window_start) / 1000
        value, pct = c.get("value"), c.get("percentile")
        where = f", percentile {100 * pct:.1f}" if pct is not None else ""
        if self.alert_type == "imbalance_extreme":
            side = "bid" if self.direction > 0 else "ask"
            return (
                f"{self.symbol} top-{self.detail:.0f} imbalance {value:+.2f}, 1 in {abs(self.metric_value):.0f} for"
                f" this symbol{where} ({side}-heavy), held {held:.1f} s"
            )
        if self.alert_type == "imbalance_flip":
            start = abs(self.detail) if self.detail is not None else float("nan")
            return (
                f"{self.symbol} imbalance flipped to {value:+.2f} in {held:.1f} s, 1 in {start:.0f} then"
                f" 1 in {abs(self.metric_value):.0f} the other way for this symbol"
            )
        if self.alert_type == "spread_widening":
            return (
                f"{self.symbol} spread {value:.2f} bps, {self.metric_value:.1f} sd above its usual"
                f" {c.get('baseline_mean', float('nan')):.2f} bps{where}, for {held:.1f} s"
            )
        return (
            f"{self.symbol} imbalance velocity {value:+.3f}/s, {abs(self.metric_value):.1f}x its usual"
            f" {c.get('baseline_rms', float('nan')):.3f}/s"
        )


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


@dataclass
class Episode:
    """A condition that must hold for a minimum time: start, whether confirmed, hysteresis side."""

    state: int = 0
    start: int = 0
    confirmed: bool = False

    def confirm_due(self, t: int, min_ms: int) -> bool:
        if self.state and not self.confirmed and min_ms <= t - self.start <= min_ms + GRACE_MS:
            self.confirmed = True
            return True
        return False


class FlipDetector:
    """Score >= +T then <= -T (or the reverse) within W, nothing at or beyond the second side in
    between. Per side, the times (and scores) of its extremes since the last extreme of the other
    side, within W of now: the earliest one on the other side is the start of a flip."""

    def __init__(self) -> None:
        self.sides: dict[int, deque[tuple[int, float]]] = {1: deque(), -1: deque()}

    def step(self, t: int, x: float, threshold: float, window_ms: int) -> tuple[int, float] | None:
        """The (start time, start score) of the flip this update ends, if it ends one."""
        for side in self.sides.values():
            while side and t - side[0][0] > window_ms:
                side.popleft()
        if abs(x) < threshold:
            return None
        s = _sign(x)
        other = self.sides[-s]
        found = other[0] if other else None
        other.clear()  # an extreme on this side ends every earlier start on the other
        if found is not None:
            self.sides[s].clear()  # the next flip may start at this one's end
        self.sides[s].append((t, x))
        return found


class KeyRules:
    """The state of one key (exchange, market, symbol) and its rules."""

    def __init__(self, profile: RuleProfile) -> None:
        p = self.profile = profile
        self.extremes = {"medium": Episode(), "high": Episode()}
        self.flip = FlipDetector()
        self.spread = Episode()
        self.velocity_on = False
        self.imbalance = Baseline(p.baseline_tau_ms, sd_floor=p.imbalance_sd_floor)
        self.imbalance_hist = DecayedHistogram(p.baseline_tau_ms, -1.0, 1.0, IMBALANCE_BINS)
        self.spread_base = Baseline(p.baseline_tau_ms, sd_floor=1e-12, sd_floor_frac=p.spread_sd_floor_frac)
        self.velocity = RootMeanSquare(p.baseline_tau_ms)
        self.pending: list[Alert] = []
        self.last: dict[str, tuple[int, int]] = {}  # alert type -> (event time, rank) of the last raised
        # Each rule's entry condition at the last update: its direction when it holds (+1 / -1; the
        # spread: +1), 0 when it does not (`obm alerts evaluate` measures the time in it).
        self.conditions: dict[str, int] = {}

    # -- cooldown ------------------------------------------------------------------------------

    def decide(self) -> list[Alert]:
        """Raise the waiting candidates (all of one event time) unless in their type's cooldown."""
        raised = []
        for c in sorted(self.pending, key=lambda c: (-c.rank, c.window_start)):
            last = self.last.get(c.alert_type)
            if last is None or c.rank > last[1] or c.event_time - last[0] >= self.profile.cooldown_ms:
                self.last[c.alert_type] = (c.event_time, c.rank)
                raised.append(c)
        self.pending = []
        return raised

    # -- one record ----------------------------------------------------------------------------

    def step(self, rec: dict[str, Any]) -> list[Alert]:
        """Alerts decided at this record (candidates of earlier event times)."""
        t = int(rec["event_time"])
        raised = self.decide() if self.pending and self.pending[0].event_time != t else []
        scores = self._scores(rec, t)
        self._imbalance_rules(rec, t, scores)
        self._spread_rule(rec, t, scores)
        self._velocity_rule(rec, t, scores)
        return raised

    def _scores(self, rec: dict[str, Any], t: int) -> dict[str, Any]:
        """Each rule's score at this update (None: the condition cannot hold), and the baselines."""
        p = self.profile
        imb = rec.get(f"imbalance_{p.imbalance_level}")
        vel, spread, mean = rec.get("imbalance_velocity"), rec.get("spread_bps"), rec.get("spread_bps_mean")
        if not p.adaptive:
            wide = (
                spread is not None and mean is not None and mean > 0 and spread >= p.spread_widening_k * mean
            )
            ratio = spread / mean if wide else None  # type: ignore[operator]
            return {"imb": 0.0 if imb is None else imb, "spread": ratio, "spread_on": wide, "vel": vel}
        self.imbalance.fold(t, imb)
        self.imbalance_hist.fold(t, imb)
        rarity = None if imb is None else self.imbalance_hist.rarity(imb)
        z_spread = self.spread_base.fold(t, spread)
        self.velocity.fold(t, vel)
        mid, bid, ask = rec.get("mid"), rec.get("depth_bid_10bps"), rec.get("depth_ask_10bps")
        depth = (bid + ask) * mid if mid is not None and bid is not None and ask is not None else None
        deep = p.min_depth_notional <= 0 or (depth is not None and depth >= p.min_depth_notional)
        warm = self.imbalance.seen_ms >= p.warmup_ms
        imb_ok = rarity is not None and deep and warm
        vel_ok = vel is not None and deep and self.velocity.seen_ms >= p.warmup_ms
        spread_ok = z_spread is not None and self.spread_base.seen_ms >= p.warmup_ms
        return {
            "imb": rarity if imb_ok else 0.0,
            "spread": z_spread if spread_ok else None,
            "spread_on": spread_ok and z_spread >= p.spread_widening_k,  # type: ignore[operator]
            "vel": vel / self.velocity.rms(p.velocity_rms_floor) if vel_ok else None,  # type: ignore[operator]
            "depth": depth,
        }

    def _context(self, rec: dict[str, Any], rule: str, score: float, scores: dict[str, Any]) -> dict:
        p = self.profile
        ctx: dict[str, Any] = {"profile": p.name, "score": score}
        ctx["book"] = {f: rec.get(f) for f in BOOK_FIELDS}
        if rule in ("imbalance_extreme", "imbalance_flip"):
            ctx["value"] = rec.get(f"imbalance_{p.imbalance_level}")
            base: Baseline | None = self.imbalance
        elif rule == "spread_widening":
            ctx["value"], base = rec.get("spread_bps"), self.spread_base
        else:
            ctx["value"], base = rec.get("imbalance_velocity"), None
        if p.adaptive:
            ctx["depth_notional_10bps"] = scores.get("depth")
            if rule != "spread_widening" and base is not None:  # score: rarity, "1 in N"
                tails = self.imbalance_hist.tails(ctx["value"]) if ctx["value"] is not None else None
                ctx.update(baseline_mean=base.mean, baseline_std=base.std(), percentile=tails and tails[0])
            elif base is not None:  # score: z
                ctx.update(
                    baseline_mean=base.mean, baseline_std=base.std(), percentile=base.percentile(score)
                )
            else:
                ctx.update(baseline_rms=self.velocity.rms(p.velocity_rms_floor))
        return ctx

    def _candidate(self, rec: dict, rule: str, severity: str, start: int, t: int, score: float,
                   threshold: float, detail: float | None, direction: int, scores: dict) -> None:  # fmt: skip
        if rule not in self.profile.rules:
            return
        self.pending.append(
            Alert(
                rule,
                severity,
                rec["exchange"],
                rec["market"],
                rec["symbol"],
                start,
                t,
                score,
                threshold,
                detail,
                direction,
                self._context(rec, rule, score, scores),
            )  # fmt: skip
        )

    def _escalated(self, severity: str, score: float, threshold: float) -> str:
        return "high" if abs(score) >= self.profile.escalate_factor * threshold else severity

    def _imbalance_rules(self, rec: dict, t: int, scores: dict) -> None:
        p, x = self.profile, scores["imb"]
        for severity, enter, clear in (
            ("medium", p.imbalance_medium, p.imbalance_clear),
            ("high", p.imbalance_high, p.imbalance_high_clear),
        ):
            ep = self.extremes[severity]
            new = 1 if x >= enter else -1 if -x >= enter else ep.state if ep.state * x >= clear else 0
            self.conditions[f"imbalance_extreme_{severity}"] = _sign(x) if abs(x) >= enter else 0
            if new != ep.state:
                ep.state, ep.start, ep.confirmed = new, t, False
                continue
            if ep.confirm_due(t, p.imbalance_min_duration_ms):
                self._candidate(rec, "imbalance_extreme", severity, ep.start, t, x, enter,
                                float(p.imbalance_level), ep.state, scores)  # fmt: skip
        self.conditions["imbalance_flip"] = _sign(x) if abs(x) >= p.flip_threshold else 0
        found = self.flip.step(t, x, p.flip_threshold, p.flip_window_ms)
        if found is not None:
            severity = self._escalated(p.flip_severity, min(abs(x), abs(found[1])), p.flip_threshold)
            self._candidate(rec, "imbalance_flip", severity, found[0], t, x, p.flip_threshold, found[1],
                            _sign(x), scores)  # fmt: skip

    def _spread_rule(self, rec: dict, t: int, scores: dict) -> None:
        p, x, ep = self.profile, scores["spread"], self.spread
        on = scores["spread_on"]
        self.conditions["spread_widening"] = 1 if on else 0
        if on and not ep.state:
            ep.state, ep.start, ep.confirmed = 1, t, False
        elif not on:
            ep.state = 0
        elif ep.confirm_due(t, p.spread_min_duration_ms):
            self._candidate(rec, "spread_widening", self._escalated("medium", x, p.spread_widening_k), ep.start, t, x,
                            p.spread_widening_k, rec.get("spread_bps"), 0, scores)  # fmt: skip

    def _velocity_rule(self, rec: dict, t: int, scores: dict) -> None:
        p, x = self.profile, scores["vel"]
        on = x is not None and abs(x) >= p.velocity_threshold
        self.conditions["velocity_spike"] = _sign(x) if on else 0  # type: ignore[arg-type]
        if on and not self.velocity_on:
            self._candidate(rec, "velocity_spike", self._escalated("low", x, p.velocity_threshold), t, t, x, p.velocity_threshold,
                            None, _sign(x), scores)  # fmt: skip
        self.velocity_on = on


class RuleEngine:
    """Every key's rules; records of one key must come in event-time order (the evaluation sorts
    them so; the streaming engine keeps the key's clock)."""

    def __init__(
        self,
        settings: AlertSettings,
        profile: str | None = None,
        adjust: Callable[[RuleProfile], RuleProfile] | None = None,
    ) -> None:
        """`adjust` changes every key's profile (calibration tries thresholds with it)."""
        self.settings = settings
        self.profile_name = profile or settings.profile
        self.adjust = adjust
        self.keys: dict[tuple[str, str, str], KeyRules] = {}

    def key_rules(self, rec: dict[str, Any]) -> KeyRules:
        key = (rec["exchange"], rec["market"], rec["symbol"])
        rules = self.keys.get(key)
        if rules is None:
            profile = profile_for(rec["symbol"], self.settings, self.profile_name)
            rules = self.keys[key] = KeyRules(self.adjust(profile) if self.adjust else profile)
        return rules

    def on_record(self, rec: dict[str, Any]) -> list[Alert]:
        return self.key_rules(rec).step(rec)

    def flush(self) -> list[Alert]:
        """The candidates still waiting (the end of a bounded input)."""
        return [a for rules in self.keys.values() for a in rules.decide()]


def run_rules(
    records: list[dict[str, Any]], settings: AlertSettings, profile: str | None = None
) -> list[Alert]:
    """Every alert of a bounded input, each key's records taken in (event time, arrival) order."""
    engine = RuleEngine(settings, profile)
    order = sorted(range(len(records)), key=lambda i: (records[i]["event_time"], i))
    alerts = [a for i in order for a in engine.on_record(records[i])]
    return alerts + engine.flush()
