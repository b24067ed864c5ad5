"""The stored history the rules' hit rates are measured on (dashboard/hit_rates.py has the
definitions): the alerts of a range with, per alert, the few updates of orderbook_metrics that
decide its forward moves (index probes on the (exchange, symbol, ts) key, LIMIT 1 each), and the
1 s bars' closes of the symbols they were on. Nothing here reads a whole table or a whole range of
updates: a day of 100 alerts on 5 symbols is ~500 probes and 432,000 bar rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pandas as pd

from dashboard.history_store import HistoryStore
from dashboard.hit_rates import (
    HIT_HORIZONS_MS,
    AlertMids,
    baseline_moves,
    epoch_ms,
    hit_rate_table,
    rule_moves,
)
from dashboard.time_window import TimeWindow
from schemas import record_key, split_record_key

# The last update with a mid at or before a time ({bound}), within the range.
_LAST_MID = """
LEFT JOIN LATERAL (
    SELECT m.ts, m.mid FROM orderbook_metrics m
    WHERE m.exchange = a.exchange AND m.symbol = a.symbol AND m.ts >= %(start)s AND m.ts < %(end)s
      AND m.ts <= {bound} AND m.mid IS NOT NULL
    ORDER BY m.ts DESC, m.sequence_id DESC
    LIMIT 1
) AS {alias} ON true"""

_KEYS_JOIN = (
    "JOIN unnest(%(exchanges)s::text[], %(symbols)s::text[]) AS k(exchange, symbol) "
    "ON {t}.exchange = k.exchange AND {t}.symbol = k.symbol"
)


def alert_mids_sql(filtered: bool) -> str:
    """The alerts of [start, end) (of the given keys when `filtered`, of the given types when
    any), each with the (ts, mid) deciding its moves at each horizon and its key's last update."""
    cols = ["m0.ts AS t0", "m0.mid AS mid0"]
    joins = [_LAST_MID.format(bound="a.ts", alias="m0")]
    for h in HIT_HORIZONS_MS:
        cols += [f"h{h}.ts AS t{h}", f"h{h}.mid AS mid{h}"]
        joins.append(_LAST_MID.format(bound=f"a.ts + make_interval(secs => {h / 1000})", alias=f"h{h}"))
    return f"""
SELECT a.exchange, a.symbol, a.alert_type, a.metric_value, a.ts, {", ".join(cols)}, e.ts AS data_end
FROM orderbook_alerts a
{_KEYS_JOIN.format(t="a") if filtered else ""}
{"".join(joins)}
LEFT JOIN LATERAL (
    SELECT m.ts FROM orderbook_metrics m
    WHERE m.exchange = a.exchange AND m.symbol = a.symbol AND m.ts >= %(start)s AND m.ts < %(end)s
    ORDER BY m.ts DESC
    LIMIT 1
) AS e ON true
WHERE a.ts >= %(start)s AND a.ts < %(end)s
  AND (cardinality(%(types)s::text[]) = 0 OR a.alert_type = ANY(%(types)s::text[]))
"""


BAR_CLOSES_SQL = f"""
SELECT b.exchange, b.symbol, b.window_end, b.mid_close
FROM orderbook_bars b
{_KEYS_JOIN.format(t="b")}
WHERE b."interval" = '1s' AND b.window_start >= %(start)s AND b.window_start < %(end)s
  AND b.mid_close IS NOT NULL
ORDER BY b.exchange, b.symbol, b.window_start
"""


def _pairs(keys: Sequence[str]) -> dict[str, list[str]]:
    split = [split_record_key(k) for k in keys]
    return {"exchanges": [e for e, _ in split], "symbols": [s for _, s in split]}


def _point(ts: Any, mid: Any) -> tuple[int, float] | None:
    return None if ts is None or mid is None else (epoch_ms(ts), float(mid))


def stored_alert_mids(
    store: HistoryStore, window: TimeWindow, keys: Sequence[str] = (), types: Sequence[str] = ()
) -> list[AlertMids]:
    """Every alert of the window (of `keys`, of `types`; empty = all) with its deciding updates."""
    params = {"start": window.start, "end": window.end, "types": list(types), **_pairs(keys)}
    out = []
    for row in store.rows(alert_mids_sql(bool(keys)), params):
        exchange, symbol, alert_type, metric_value, ts, t0, mid0, *horizons, data_end = row
        at_horizon = {h: _point(horizons[2 * i], horizons[2 * i + 1]) for i, h in enumerate(HIT_HORIZONS_MS)}
        out.append(
            AlertMids(
                record_key(exchange, symbol),
                alert_type,
                float(metric_value),
                epoch_ms(ts),
                _point(t0, mid0),
                at_horizon,
                None if data_end is None else epoch_ms(data_end),
            )  # fmt: skip
        )
    return out


def stored_bar_closes(
    store: HistoryStore, window: TimeWindow, keys: Sequence[str]
) -> dict[str, list[tuple[int, float]]]:
    """Per key, every 1 s bar's close in the window as (window_end - 1 ms, mid_close), in time
    order: the time and mid of the last update of that second."""
    closes: dict[str, list[tuple[int, float]]] = defaultdict(list)
    if not keys:
        return closes
    params = {"start": window.start, "end": window.end, **_pairs(keys)}
    for exchange, symbol, window_end, mid_close in store.rows(BAR_CLOSES_SQL, params):
        closes[record_key(exchange, symbol)].append((epoch_ms(window_end) - 1, float(mid_close)))
    return closes


def measured_hit_rates(store: HistoryStore, window: TimeWindow, keys: Sequence[str], types: Sequence[str],
                       rules: Sequence[str]) -> pd.DataFrame:  # fmt: skip
    """The hit-rate table of `rules` (dashboard/hit_rates.hit_rate_table) over the window's
    stored alerts of `keys` and `types`, against the unconditional moves of their symbols."""
    alerts = stored_alert_mids(store, window, keys, types)
    closes = stored_bar_closes(store, window, sorted({a.key for a in alerts}))
    baselines = {key: baseline_moves(points) for key, points in closes.items()}
    return hit_rate_table(rule_moves(alerts), baselines, rules)
