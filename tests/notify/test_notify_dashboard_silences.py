"""The alert feed's silences panel (dashboard/silence_panel.py), run headless by Streamlit's
AppTest against the session's PostgreSQL: a silence set from the form is stored as the notifier
reads it, listed, and removed with its button; a silence of everything is refused."""

from __future__ import annotations

import pytest
from notify_support import NotifyTestEnv
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.integration


def _panel() -> None:
    from dashboard import silence_panel

    silence_panel.render()


def test_the_alert_feed_sets_lists_and_removes_silences(monkeypatch, notify_env: NotifyTestEnv) -> None:
    pg = notify_env.pg
    for name, value in {"OBM_PG_HOST": pg.host, "OBM_PG_PORT": str(pg.port), "OBM_PG_USER": pg.user,
                        "OBM_PG_PASSWORD": pg.password.get_secret_value(), "OBM_PG_DATABASE": pg.database}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    pattern = f"{notify_env.exchange}:BTC*"
    at = AppTest.from_function(_panel, default_timeout=60).run()
    assert not at.exception

    def submit() -> None:
        next(b for b in at.button if b.label == "Silence").click().run()
        assert not at.exception

    submit()  # everything left at '*'
    assert "a silence of everything" in at.error[0].value
    at.text_input(key="silence_symbols").set_value(pattern)
    at.selectbox(key="silence_type").set_value("spread_widening")
    at.selectbox(key="silence_for").set_value("2h")
    at.text_input(key="silence_comment").set_value("venue maintenance")
    submit()
    assert at.success[0].value.startswith(f"Silenced {pattern} · spread_widening · *")
    [(silence_id, alert_type, severity, minutes, comment)] = notify_env.rows(
        "SELECT id, alert_type, severity, round(extract(epoch FROM ends_at - starts_at) / 60), comment"
        " FROM alert_silences WHERE symbols = %s AND removed_at IS NULL", pattern,
    )  # fmt: skip
    assert (alert_type, severity, minutes, comment) == ("spread_widening", "*", 120, "venue maintenance")
    at.run()
    assert any(silence_id in m.value and pattern in m.value for m in at.markdown)
    at.button(key=f"silence_remove_{silence_id}").click().run()
    assert not at.exception
    assert notify_env.rows("SELECT removed_at IS NOT NULL FROM alert_silences WHERE id = %s", silence_id) == [
        (True,)
    ]
    assert not any(silence_id in m.value for m in at.markdown)
