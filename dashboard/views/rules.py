"""Rules page: the user alert rules (rules/, docs/rules.md). List, create, edit, enable/disable
and delete, through the same store as `obm rules` (validation, history, publication to
rules.changes), so a change made here reaches the running rules job within seconds. A refused
rule shows each field's problem under the form."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

import psycopg
import streamlit as st

from rules.catalogue import DEFAULT_SOURCE, RULE_SOURCES, rule_metrics
from rules.model import CONDITIONS, SEVERITIES, RuleInvalid
from rules.publish import NotPublished
from rules.store import RuleNotFound, RulesStore, StoredRule


def _who() -> str:
    return f"dashboard ({getpass.getuser()})"


def _change(action: Callable[[RulesStore], StoredRule], done: str) -> bool:
    """Run one store call; show what happened. True when the rule was stored."""
    from rules.cli import open_store

    try:
        with open_store() as store:
            stored = action(store)
    except RuleInvalid as exc:
        st.error(
            "The rule was not stored:\n" + "\n".join(f"- **{f}**: {why}" for f, why in exc.problems.items())
        )
        return False
    except RuleNotFound as exc:
        st.error(str(exc))
        return False
    except NotPublished as exc:
        st.warning(str(exc))
        return True
    st.success(f"{done}: rule {stored.rule.rule_id} v{stored.rule.version}, {stored.rule.describe()}")
    return True


def _form(key: str, initial: dict[str, Any]) -> dict[str, Any] | None:
    """The rule's fields as entered, or None before the form is submitted. The source is chosen
    outside the form, so that changing it offers that source's metrics at once."""
    sources = [s.name for s in RULE_SOURCES]
    source = str(st.selectbox("Source", sources, index=sources.index(initial.get("source", DEFAULT_SOURCE)),
                              key=f"{key}_source", help="books, book or trade bars of one interval, "
                              "or pair analytics (a pair scope y/x)"))  # fmt: skip
    metrics = list(rule_metrics(source))
    current = initial.get("metric", "spread_bps")
    with st.form(key):  # a refused rule keeps what was entered
        c1, c2, c3 = st.columns([3, 3, 2])
        name = c1.text_input("Name", value=initial.get("name", ""), key=f"{key}_name")
        metric = c2.selectbox("Metric", metrics, index=metrics.index(current) if current in metrics else 0,
                              key=f"{key}_metric_{source}")  # fmt: skip
        scope = c3.text_input("Scope", value=initial.get("scope", "all"), key=f"{key}_scope",
                              help="all, exchange:symbol with * and ? (binance:ETH*, *:BTCUSDT), a symbol, "
                              "or for pairs.analytics y/x (binance:ETHUSDT/binance:BTCUSDT)")  # fmt: skip
        c4, c5, c6, c7, c8 = st.columns([2, 2, 2, 2, 2])
        condition = c4.selectbox("Condition", CONDITIONS, index=CONDITIONS.index(initial.get("condition", ">")),
                                 key=f"{key}_condition")  # fmt: skip
        threshold = c5.text_input(
            "Threshold", value=str(initial.get("threshold", "")), key=f"{key}_threshold"
        )
        held = c6.text_input(
            "Min. duration", value=f"{initial.get('min_duration_ms', 0)}ms", key=f"{key}_held"
        )
        cooldown = c7.text_input(
            "Cooldown", value=f"{initial.get('cooldown_ms', 60_000)}ms", key=f"{key}_cooldown"
        )
        severity = c8.selectbox("Severity", SEVERITIES, index=SEVERITIES.index(initial.get("severity", "medium")),
                                key=f"{key}_severity")  # fmt: skip
        if not st.form_submit_button("Save" if initial else "Add rule"):
            return None
    return {"name": name, "source": source, "metric": metric, "scope": scope, "condition": condition,
            "threshold": threshold, "min_duration_ms": held, "cooldown_ms": cooldown, "severity": severity}  # fmt: skip


def _row(stored: StoredRule) -> None:
    rule = stored.rule
    left, on, remove = st.columns([8, 1, 1])
    state = "enabled" if rule.enabled else "disabled"
    left.markdown(
        f"`{rule.rule_id}` **{rule.name}** · {rule.describe()} · cooldown {rule.cooldown_ms} ms · {rule.severity}"
        f" · {state} · v{rule.version} by {stored.changed_by}, {stored.changed_at:%Y-%m-%d %H:%M} UTC"
    )
    if on.button("Disable" if rule.enabled else "Enable", key=f"rule_toggle_{rule.rule_id}"):
        if _change(lambda s: s.set_enabled(rule.rule_id, not rule.enabled, _who()), "Changed"):
            st.rerun()
    if remove.button("Delete", key=f"rule_delete_{rule.rule_id}"):
        if _change(lambda s: s.delete(rule.rule_id, _who()), "Deleted"):
            st.rerun()
    with st.expander(f"Edit rule {rule.rule_id}"):
        entered = _form(f"rule_edit_{rule.rule_id}", rule.as_dict())
        if entered is not None and _change(lambda s: s.edit(rule.rule_id, entered, _who()), "Saved"):
            st.rerun()


def render(_ctx: object = None) -> None:
    from rules.cli import open_store

    st.subheader("Alert rules")
    st.caption(
        "Rules are evaluated on every record of their source (book updates, bars or pair analytics) by the "
        "rules jobs; a change applies within seconds. "
        "Their alerts appear in the Alerts feed with type user_rule."
    )
    st.markdown("**New rule**")
    entered = _form("rule_new", {})
    if entered is not None:
        _change(lambda s: s.add(entered, _who()), "Added")
    try:
        with open_store() as store:
            listed = store.listed()
    except (psycopg.Error, OSError) as exc:
        st.error(f"The rules are unavailable: PostgreSQL cannot be read ({type(exc).__name__}).")
        return
    if not listed:
        st.caption("No rules yet.")
    for stored in listed:
        _row(stored)
