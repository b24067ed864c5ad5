"""The alert feed's silences: list the active ones, add one, remove one. The same table and rules
as `obm alerts silence` (notify/silences.py); the notifier applies them when a group of alerts
would go out (docs/alerts-delivery.md#silences)."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

import psycopg
import streamlit as st

from config import PostgresSettings
from notify import silences
from notify.silence_cli import parse_duration
from schemas.registry import load_schema
from schemas.topics import Topic

DURATIONS = ["30m", "1h", "2h", "4h", "12h", "1d", "7d"]
SEVERITIES = ["*", "high", "medium", "low"]


def _alert_types() -> list[str]:
    return ["*", *load_schema(Topic.ALERTS)["properties"]["alert_type"]["enum"]]


def _connect() -> psycopg.Connection[Any]:
    return psycopg.connect(PostgresSettings().conninfo(), connect_timeout=2, autocommit=True)


def render() -> None:
    with st.expander("Silences: mute the delivery of matching alerts for a while"):
        try:
            with _connect() as conn:
                active = silences.listed(conn, datetime.now(UTC))
        except psycopg.Error as exc:
            st.caption(f"Silences are unavailable: PostgreSQL cannot be read ({type(exc).__name__}).")
            return
        with st.form("silence_form", clear_on_submit=True):
            c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
            symbols = c1.text_input(
                "Symbol", placeholder="binance:BTCUSDT, *:ETH*, BTC*", key="silence_symbols"
            )
            alert_type = c2.selectbox("Type", _alert_types(), key="silence_type")
            severity = c3.selectbox("Severity", SEVERITIES, key="silence_severity")
            duration = c4.selectbox("For", DURATIONS, index=1, key="silence_for")
            comment = st.text_input("Why", key="silence_comment")
            submitted = st.form_submit_button("Silence")
        if submitted:
            now = datetime.now(UTC)
            try:
                new = silences.new_silence(symbols, alert_type, severity, now, now + parse_duration(duration),
                                           f"dashboard ({getpass.getuser()})", comment)  # fmt: skip
            except ValueError as exc:
                st.error(str(exc))
            else:
                with _connect() as conn:
                    silences.add(conn, new)
                active.append(new)
                st.success(
                    f"Silenced {new.symbols} · {new.alert_type} · {new.severity} until {new.ends_at:%H:%M} UTC"
                )
        if not active:
            st.caption("No active silence.")
        for s in active:
            left, right = st.columns([6, 1])
            left.markdown(
                f"`{s.id}` **{s.symbols}** · {s.alert_type} · {s.severity} · until "
                f"{s.ends_at:%Y-%m-%d %H:%M} UTC · by {s.created_by}"
                + (f" · {s.comment}" if s.comment else "")
            )
            if right.button("Remove", key=f"silence_remove_{s.id}"):
                with _connect() as conn:
                    silences.remove(conn, s.id, datetime.now(UTC))
                st.rerun()
