"""Pure logic of the notifier: routing and patterns, group keys, the due time of a group, silence
matching, the three message formats, Retry-After and the backoff."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from config.notify_routes import NotifyReceiver, NotifyRoute
from config.settings import NotifySettings
from notify.dispatch import due_at
from notify.messages import make_notification, notification_id, slack_body, telegram_body, webhook_body
from notify.receivers import backoff_s, parse_retry_after
from notify.routing import Router, route_matches, symbol_matches
from notify.silences import Silence, silenced_by
from notify.store import PendingGroup

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def alert(symbol: str = "BTCUSDT", alert_type: str = "imbalance_extreme", severity: str = "high",
          exchange: str = "binance", n: int = 0, message: str = "m") -> dict:  # fmt: skip
    return {"alert_id": f"{alert_type}:{exchange}:{symbol}:{n}", "alert_type": alert_type, "severity": severity,
            "exchange": exchange, "market": "spot", "symbol": symbol, "message": message}  # fmt: skip


def receivers(*names: str) -> list[NotifyReceiver]:
    return [NotifyReceiver(name=n, kind="webhook", url=f"http://127.0.0.1:1/{n}") for n in names]


def test_symbol_patterns() -> None:
    assert symbol_matches("binance:BTC*", "binance", "BTCUSDT")
    assert not symbol_matches("binance:BTC*", "binance_usdm", "BTCUSDT")
    assert symbol_matches("*:ETHUSDT", "okx", "ETHUSDT")
    assert symbol_matches("BTC*", "bybit", "BTCUSDT") and not symbol_matches("BTC*", "bybit", "ETHBTC")
    assert symbol_matches("*", "x", "Y")


def test_a_route_matches_on_every_condition_it_names() -> None:
    route = NotifyRoute(
        receiver="r", severities=["high", "medium"], types=["imbalance_*"], symbols=["*:BTC*"]
    )
    assert route_matches(route, alert())
    assert not route_matches(route, alert(severity="low"))
    assert not route_matches(route, alert(alert_type="spread_widening"))
    assert not route_matches(route, alert(symbol="ETHUSDT"))
    assert route_matches(NotifyRoute(receiver="r"), alert(severity="low", symbol="ANY"))


def test_first_matching_route_wins_unless_it_continues() -> None:
    s = NotifySettings(
        receivers=receivers("ops", "desk", "all"),
        routes=[NotifyRoute(receiver="ops", severities=["high"], group_window_s=5, **{"continue": True}),
                NotifyRoute(receiver="desk", symbols=["BTC*"], group_by=["symbol"]),
                NotifyRoute(receiver="all"), NotifyRoute(receiver="ops")],
        group_window_s=30, repeat_interval_s=600,
    )  # fmt: skip
    router = Router(s)
    high_btc = router.route(alert())
    assert [(d.receiver, d.group_window_s, d.repeat_interval_s) for d in high_btc] == [
        ("ops", 5, 600),
        ("desk", 30, 600),
    ]
    assert high_btc[0].group_key == "ops|alert_type=imbalance_extreme|exchange=binance|symbol=BTCUSDT"
    assert high_btc[1].group_key == "desk|symbol=BTCUSDT"
    assert [d.receiver for d in router.route(alert(symbol="ETHUSDT", severity="low"))] == ["all"]
    # the implicit route when none is configured: every receiver
    assert [d.receiver for d in Router(NotifySettings(receivers=receivers("a", "b"))).route(alert())] == [
        "a",
        "b",
    ]


def test_a_configuration_naming_unknown_or_twice_the_same_receiver_is_refused() -> None:
    with pytest.raises(ValueError, match="not configured: \\['nope'\\]"):
        Router(NotifySettings(receivers=receivers("a"), routes=[NotifyRoute(receiver="nope")]))
    with pytest.raises(ValueError, match="unique"):
        Router(NotifySettings(receivers=receivers("a", "a")))
    with pytest.raises(ValueError, match="token and chat_id"):
        NotifyReceiver(name="t", kind="telegram", url="https://api.telegram.org")


def test_routes_and_receivers_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBM_NOTIFY_RECEIVERS", '[{"name": "s", "kind": "slack", "url": "https://hooks/x"}]')
    monkeypatch.setenv("OBM_NOTIFY_ROUTES", '[{"receiver": "s", "types": ["spread_*"], "continue": true}]')
    s = NotifySettings()
    assert s.receivers[0].url.get_secret_value() == "https://hooks/x" and "hooks" not in repr(s)
    assert s.routes[0].continue_matching and s.routes[0].types == ["spread_*"]


def group(first_s: float, last_sent_s: float | None, window: float = 30, repeat: float = 600) -> PendingGroup:
    last = None if last_sent_s is None else T0 + timedelta(seconds=last_sent_s)
    return PendingGroup("r", "k", T0 + timedelta(seconds=first_s), last, window, repeat, 1)


def test_a_group_is_due_after_its_window_and_the_repeat_interval() -> None:
    assert due_at(group(0, None)) == T0 + timedelta(seconds=30)
    assert due_at(group(100, 90)) == T0 + timedelta(seconds=690)  # ongoing: the repeat interval rules
    assert due_at(group(1000, 90)) == T0 + timedelta(seconds=1030)  # quiet for long: a new burst


def test_silences_match_patterns_while_active() -> None:
    s = Silence("id1", "binance:BTC*", "spread_*", "*", T0, T0 + timedelta(hours=1), "me", "")
    assert s.matches(alert(alert_type="spread_widening")) and not s.matches(alert())
    assert not s.matches(alert(alert_type="spread_widening", exchange="okx"))
    a = alert(alert_type="spread_widening")
    assert silenced_by([s], a, T0 + timedelta(minutes=59)) is s
    assert silenced_by([s], a, T0 + timedelta(hours=1)) is None  # ended
    assert silenced_by([s], a, T0 - timedelta(seconds=1)) is None  # not started
    removed = Silence("id2", "*", "*", "*", T0, T0 + timedelta(hours=1), "me", "", removed_at=T0)
    assert silenced_by([removed], a, T0 + timedelta(minutes=1)) is None


def test_the_three_message_formats() -> None:
    alerts = [
        alert(n=i, message=f"BTCUSDT <b>{i}</b> & co", severity=s) for i, s in enumerate(["low", "high"])
    ]
    n = make_notification("desk", "desk|k", alerts, repeat=False)
    assert n.id == notification_id("desk", [a["alert_id"] for a in reversed(alerts)])  # order-free, stable
    assert n.severity == "high"
    body = webhook_body(n)
    assert body["count"] == 2 and body["alerts"] == alerts and body["notification_id"] == n.id
    assert body["summary"] == "[HIGH] imbalance_extreme on binance:BTCUSDT: 2 alerts (burst)"
    slack = slack_body(n)
    assert slack["text"] == body["summary"]
    assert "&lt;b&gt;1&lt;/b&gt; &amp; co" in slack["blocks"][1]["text"]["text"]
    tg = telegram_body(n, "-1001")
    assert tg["parse_mode"] == "HTML" and tg["chat_id"] == "-1001"
    assert (
        tg["text"].startswith("<b>[HIGH] imbalance_extreme") and "&lt;b&gt;1&lt;/b&gt; &amp; co" in tg["text"]
    )
    one = make_notification("desk", "k", alerts[:1], repeat=False)
    assert webhook_body(one)["summary"] == "[LOW] imbalance_extreme on binance:BTCUSDT: BTCUSDT <b>0</b> & co"
    many = make_notification("desk", "k", [alert(n=i, message="x" * 600) for i in range(30)], repeat=True)
    assert len(telegram_body(many, "c")["text"]) <= 4096
    assert "… and 20 more" in slack_body(many)["blocks"][1]["text"]["text"]
    assert webhook_body(many)["summary"].endswith("30 alerts (still firing)")


def test_retry_after_and_backoff() -> None:
    assert (
        parse_retry_after("7") == 7.0
        and parse_retry_after(None) is None
        and parse_retry_after("soon") is None
    )
    assert parse_retry_after("Sat, 05 Dec 2026 12:00:30 GMT", now=T0.timestamp()) == 30.0
    assert parse_retry_after("Sat, 05 Dec 2026 11:00:00 GMT", now=T0.timestamp()) == 0.0
    assert [backoff_s(a, 1.0, 60.0, None) for a in (1, 2, 3, 7, 8)] == [1.0, 2.0, 4.0, 60.0, 60.0]
    assert backoff_s(1, 1.0, 60.0, 12.0) == 12.0 and backoff_s(1, 1.0, 60.0, 3600.0) == 60.0


def test_the_embedded_stack_hands_receivers_and_routes_to_the_notifier_process(tmp_path) -> None:
    from config import StackSettings
    from obm.stack.supervisor import StackConfig

    tg = NotifyReceiver(name="t", kind="telegram", url="https://api.example", token="1:S", chat_id="-1")
    notify = NotifySettings(receivers=[tg], routes=[NotifyRoute(receiver="t", **{"continue": True})])
    cfg = StackConfig(stack=StackSettings(state_dir=tmp_path), notify=notify)
    env = cfg.env()
    assert json.loads(env["OBM_NOTIFY_RECEIVERS"])[0]["token"] == "1:S"  # the child reads it back
    cfg.save()
    back = StackConfig.load_or_default(cfg.stack).notify
    assert back.receivers[0].token is not None and back.receivers[0].token.get_secret_value() == "1:S"
    assert back.routes[0].continue_matching and back.routes == notify.routes


def test_the_routing_example_of_the_docs_routes_as_the_docs_say() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs/alerts-delivery.md").read_text()
    found = dict(re.findall(r"^(OBM_NOTIFY_RECEIVERS|OBM_NOTIFY_ROUTES)='(.*?)'$", doc, re.M | re.S))
    s = NotifySettings(
        receivers=json.loads(found["OBM_NOTIFY_RECEIVERS"]), routes=json.loads(found["OBM_NOTIFY_ROUTES"])
    )
    router = Router(s)

    def to(a: dict) -> dict[str, float]:
        return {d.receiver: d.group_window_s for d in router.route(a)}

    assert to(alert("BTCUSDT", "velocity_spike", "high")) == {"ops-hook": 30, "oncall": 10}
    assert to(alert("ETHUSDT", "imbalance_flip", "medium")) == {"ops-hook": 30, "desk": 30}
    assert to(alert("ETHUSDT", "velocity_spike", "high")) == {"ops-hook": 30}
    assert to(alert("SOLUSDT", "spread_widening", "low")) == {"ops-hook": 30}
