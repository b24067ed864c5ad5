"""Export: one symbol and a time range, as CSV or Parquet. The query is bounded by symbol and
time range (and a row cap, said on screen when reached), and runs only on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.export_files import FORMATS, file_name, to_bytes
from dashboard.history_store import EXPORTS, HistoryUnavailable
from dashboard.layout import ViewContext
from dashboard.resources import history_store
from dashboard.time_window import TimeWindow

MAX_ROWS = 1_000_000


def render(ctx: ViewContext) -> None:
    st.subheader("Export")
    if not ctx.all_keys:
        st.info("No symbols known yet.")
        return
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    c1, c2, c3 = st.columns(3)
    key = c1.selectbox("Symbol", ctx.keys or ctx.all_keys, key="export_symbol")
    kind = c2.selectbox(
        "Data",
        list(EXPORTS),
        key="export_kind",
        help="metrics: one row per book update; bars: 1 s or 1 min windows; alerts; trades: one row per venue trade",
    )
    fmt = c3.segmented_control("Format", list(FORMATS), default="CSV", key="export_format", required=True)
    c4, c5 = st.columns(2)
    start = c4.datetime_input(
        "From (UTC)", value=now - timedelta(hours=1), key="export_from", step=60, format="YYYY-MM-DD"
    )
    end = c5.datetime_input("To (UTC)", value=now, key="export_to", step=60, format="YYYY-MM-DD")
    if start is None or end is None or end <= start:
        st.warning("Choose a start before the end.")
        return
    start_ms = int(start.replace(tzinfo=start.tzinfo or UTC).timestamp() * 1000)
    end_ms = int(end.replace(tzinfo=end.tzinfo or UTC).timestamp() * 1000)
    if not st.button("Prepare export", type="primary", icon=":material/database:"):
        return
    try:
        with st.spinner("Querying…"):
            frame = history_store().export(str(kind), str(key), TimeWindow(start_ms, end_ms), MAX_ROWS)
    except HistoryUnavailable as exc:
        st.error(f"The database is unreachable, nothing to export: {exc}")
        return
    if len(frame) > MAX_ROWS:
        frame = frame.iloc[:MAX_ROWS]
        st.warning(f"Cut at {MAX_ROWS:,} rows: narrow the time range to get the rest.")
    if frame.empty:
        st.info("No rows for this symbol in this time range.")
        return
    name = file_name(str(kind), str(key), start_ms, end_ms, str(fmt))
    data = to_bytes(frame, str(fmt))
    st.success(f"{len(frame):,} rows, {len(data) / 1024:,.0f} KiB")
    st.download_button(
        f"Download {name}",
        data,
        file_name=name,
        mime=FORMATS[str(fmt)][1],
        icon=":material/download:",
        type="primary",
    )
    st.dataframe(frame.head(20), hide_index=True)
