"""The history queries as the pages call them: through `st.cache_data` with a short TTL, so the
many widgets and sessions that refresh every second share one query per few seconds.

Arguments are plain values (ints and strings), so the cache key is exactly the question asked; the
window end is aligned by `time_window.window_ending_at`, which makes neighbouring reruns share it.
Failures raise HistoryUnavailable and are never cached, so the page recovers as soon as the
database is back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.hit_rate_store import measured_hit_rates
from dashboard.resources import history_store
from dashboard.time_window import TimeWindow

HISTORY_TTL_S = 3
SYMBOLS_TTL_S = 30
# The rules' hit rates read a range of alerts and 1 s bars (dashboard/hit_rate_store.py): measured
# once per window, whose end the page aligns to HIT_RATE_STEP_MS, and kept a little longer.
HIT_RATE_STEP_MS = 300_000
HIT_RATE_TTL_S = 600


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False, max_entries=256)
def bars(key: str, start_ms: int, end_ms: int, bucket_s: int, interval: str = "1s") -> pd.DataFrame:
    return history_store().bars(key, TimeWindow(start_ms, end_ms), bucket_s, interval)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False, max_entries=128)
def metric_series(
    key: str,
    start_ms: int,
    end_ms: int,
    bucket_s: int,
    means: tuple[str, ...] = (),
    ranges: tuple[str, ...] = (),
    all_true: tuple[str, ...] = (),
) -> pd.DataFrame:
    return history_store().metric_series(
        key, TimeWindow(start_ms, end_ms), bucket_s, means=means, ranges=ranges, all_true=all_true
    )


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False, max_entries=64)
def snapshots(key: str, start_ms: int, end_ms: int, bucket_s: int) -> pd.DataFrame:
    return history_store().snapshots(key, TimeWindow(start_ms, end_ms), bucket_s)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False, max_entries=256)
def alerts(
    start_ms: int,
    end_ms: int,
    keys: tuple[str, ...] = (),
    severities: tuple[str, ...] = (),
    alert_types: tuple[str, ...] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    return history_store().alerts(
        TimeWindow(start_ms, end_ms),
        keys=keys,
        severities=severities,
        alert_types=alert_types,
        limit=limit,
        offset=offset,
    )


@st.cache_data(ttl=HIT_RATE_TTL_S, show_spinner="Measuring the rules' hit rates ...", max_entries=16)
def hit_rates(
    start_ms: int, end_ms: int, keys: tuple[str, ...], types: tuple[str, ...], rules: tuple[str, ...]
) -> pd.DataFrame:
    return measured_hit_rates(history_store(), TimeWindow(start_ms, end_ms), keys, types, rules)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False, max_entries=32)
def latest_metrics(keys: tuple[str, ...], since_ms: int) -> dict[str, dict[str, Any]]:
    return history_store().latest_metrics(keys, datetime.fromtimestamp(since_ms / 1000, tz=UTC))


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False, max_entries=32)
def last_alerts(keys: tuple[str, ...], since_ms: int) -> dict[str, dict[str, Any]]:
    return history_store().last_alerts(keys, datetime.fromtimestamp(since_ms / 1000, tz=UTC))


@st.cache_data(ttl=SYMBOLS_TTL_S, show_spinner=False, max_entries=8)
def known_symbols(since_ms: int) -> list[str]:
    return history_store().known_symbols(datetime.fromtimestamp(since_ms / 1000, tz=UTC))
