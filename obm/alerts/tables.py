"""Markdown tables of an evaluation (what `obm alerts evaluate` prints and docs/alerts.md shows)."""

from __future__ import annotations

from flink_jobs.alert_profiles import RULES
from obm.alerts.evaluation import BASELINES, CONDITIONS, HORIZONS_MS, KeyReport, Moves


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:+.{digits}f}"


def _cell(m: Moves, directed: bool) -> str:
    """hit rate (nonzero moves) / mean signed bps, or mean |move| for an undirected rule."""
    if not m.n:
        return "–"
    if not directed:
        return f"abs {m.mean_abs_bps:.2f} (n={m.n})"
    return f"{_pct(m.hit_rate)} {_num(m.mean_bps)} (n={m.nonzero}/{m.n})"


def report_tables(reports: list[KeyReport], profile: str) -> str:
    heads = " | ".join(f"{h // 1000} s" for h in HORIZONS_MS)
    lines = [
        f"profile `{profile}`; per horizon: hit rate over nonzero moves, mean signed move in bps "
        "(n = nonzero/all); spread_widening (no direction): mean |move| in bps",
        "",
    ]
    for r in reports:
        lines += [
            f"### {r.key}: {r.hours * 60:.1f} min, {r.updates} updates",
            "",
            f"| rule | alerts | per hour | severities | {heads} |",
            "|---|---|---|---|" + "---|" * len(HORIZONS_MS),
        ]
        for rule in RULES:
            alerts = r.alerts[rule]
            sev = ", ".join(f"{k} {v}" for k, v in sorted(_count(a.severity for a in alerts).items()))
            per_hour = r.per_hour(rule)
            cells = " | ".join(_cell(r.rule_moves[rule][h], rule != "spread_widening") for h in HORIZONS_MS)
            lines.append(
                f"| {rule} | {len(alerts)} | {'–' if per_hour is None else f'{per_hour:.0f}'} | {sev or '–'} | {cells} |"
            )
        for c in CONDITIONS:
            cells = " | ".join(_cell(r.condition_moves[c][h], c != "spread_widening") for h in HORIZONS_MS)
            lines.append(f"| in condition: {c} | | | | {cells} |")
        for b in BASELINES:
            cells = " | ".join(_cell(r.baseline_moves[b][h], True) for h in HORIZONS_MS)
            lines.append(f"| baseline: {b} | | | | {cells} |")
        abs_cells = " | ".join(
            f"abs {r.baseline_moves['all'][h].mean_abs_bps:.2f}" if r.baseline_moves["all"][h].n else "–"
            for h in HORIZONS_MS
        )
        lines.append(f"| baseline: all, mean \\|move\\| | | | | {abs_cells} |")
        conds = ", ".join(f"{c} {_pct(r.time_in_condition(c))}" for c in CONDITIONS)
        lines += ["", f"Time in condition: {conds}.", ""]
    return "\n".join(lines)


def _count(items) -> dict[str, int]:  # noqa: ANN001
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out
