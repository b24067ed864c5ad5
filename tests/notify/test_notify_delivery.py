"""The notifier against real Kafka, PostgreSQL and HTTP receivers on loopback, in-process: the
test drives the dispatcher (`dispatch_due`) and, where timing matters, its clock, so group windows
and repeat intervals are checked without sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from click.testing import CliRunner
from notify_support import HOLD, LoopbackReceiver, ManualClock, NotifyTestEnv, until

from config.notify_routes import NotifyReceiver, NotifyRoute
from config.settings import NotifySettings
from notify.service import Notifier
from notify.silence_cli import silence

pytestmark = pytest.mark.integration


def settings(env: NotifyTestEnv, receivers: list[NotifyReceiver], routes: list[dict[str, Any]] | None = None,
             **overrides: Any) -> NotifySettings:  # fmt: skip
    base: dict[str, Any] = dict(
        group=f"g-{env.exchange}", receivers=receivers, routes=[NotifyRoute(**r) for r in routes or []],
        group_window_s=0.0, repeat_interval_s=0.0, backoff_initial_s=0.01, backoff_max_s=0.05,
    )  # fmt: skip
    return NotifySettings(**{**base, **overrides})


def webhook(env: NotifyTestEnv, receiver: LoopbackReceiver, name: str = "hook") -> NotifyReceiver:
    return NotifyReceiver(name=f"{name}-{env.exchange}", kind="webhook", url=f"{receiver.url}/{name}")


async def stored(env: NotifyTestEnv, receivers: list[str], count: int) -> None:
    await until(f"{count} routed alerts stored", lambda: sum(env.statuses(receivers).values()) == count)


async def dispatch(notifier: Notifier) -> int:
    """One dispatcher pass, its deliveries run to their end; returns how many messages it started."""
    assert notifier.dispatcher is not None
    tasks = await notifier.dispatcher.dispatch_due()
    await asyncio.gather(*tasks)
    return len(tasks)


def test_routing_by_severity_type_and_symbol_to_three_kinds_of_receiver(notify_env: NotifyTestEnv) -> None:
    env = notify_env

    async def scenario() -> None:
        async with LoopbackReceiver() as r_hook, LoopbackReceiver() as r_slack, LoopbackReceiver() as r_tg:
            hook = webhook(env, r_hook)
            slack = NotifyReceiver(name=f"slack-{env.exchange}", kind="slack", url=r_slack.url)
            tg = NotifyReceiver(name=f"tg-{env.exchange}", kind="telegram", url=r_tg.url,
                                token="123:SECRET", chat_id="-100777")  # fmt: skip
            routes = [
                {"receiver": hook.name, "severities": ["high"], "continue": True},
                {"receiver": slack.name, "types": ["imbalance_*"], "symbols": [f"{env.exchange}:BTC*"]},
                {"receiver": tg.name},
            ]
            names = [hook.name, slack.name, tg.name]
            a1 = env.alert("BTCUSDT", "imbalance_extreme", "high", message="BTCUSDT <top-5> & more")
            a2 = env.alert("BTCUSDT", "spread_widening", "medium")
            a3 = env.alert("ETHUSDT", "imbalance_flip", "low")
            a4 = env.alert("SOLUSDT", "velocity_spike", "high")
            notifier = Notifier(settings(env, [hook, slack, tg], routes), env.kafka, env.pg)
            async with notifier.running(dispatch_loop=False, http=False):
                env.produce(a1, a2, b"not json", a3, a4, a1)  # a1 twice: delivered once
                m = notifier.metrics
                await until("5 alert records (a1 twice) and 1 skipped record read",
                            lambda: m.value("obm_notify_alerts_in_total") == 5
                            and m.value("obm_notify_alerts_skipped_total", kind="not_json") == 1)  # fmt: skip
                await stored(env, names, 6)  # a1: hook and slack; a2, a3: tg; a4: hook and tg
                assert await dispatch(notifier) == 6
                assert await dispatch(notifier) == 0  # nothing left

        assert sorted(r_hook.accepted_alert_ids()) == sorted([a1["alert_id"], a4["alert_id"]])
        for req in r_hook.requests:
            assert req.path == "/hook" and req.headers["Idempotency-Key"] == req.body["notification_id"]
            assert req.body["count"] == 1 and req.body["repeat"] is False
        first = next(r.body for r in r_hook.requests if r.body["alerts"][0]["alert_id"] == a1["alert_id"])
        assert first["alerts"] == [a1] and first["summary"].startswith("[HIGH] imbalance_extreme on ")

        [slack_req] = r_slack.requests
        assert set(slack_req.body) == {"text", "blocks"}
        assert (
            slack_req.body["text"]
            == f"[HIGH] imbalance_extreme on {env.exchange}:BTCUSDT: BTCUSDT &lt;top-5&gt; &amp; more"
        )
        assert "BTCUSDT &lt;top-5&gt; &amp; more" in slack_req.body["blocks"][0]["text"]["text"]

        assert len(r_tg.requests) == 3
        for req in r_tg.requests:
            assert req.path == "/bot123:SECRET/sendMessage"
            assert req.body["chat_id"] == "-100777" and req.body["parse_mode"] == "HTML"
        texts = sorted(r.body["text"] for r in r_tg.requests)
        assert any(t.startswith(f"<b>[HIGH] velocity_spike on {env.exchange}:SOLUSDT") for t in texts)

        assert env.statuses(names) == {"sent": 6}
        rows = env.rows("SELECT receiver, attempt, status, http_code FROM alert_delivery_attempts"
                        " WHERE receiver = ANY(%s)", names)  # fmt: skip
        assert sorted(rows) == sorted(
            [(hook.name, 1, "delivered", 200)] * 2 + [(slack.name, 1, "delivered", 200)]
            + [(tg.name, 1, "delivered", 200)] * 3
        )  # fmt: skip
        assert notifier.metrics.value("obm_notify_delivered_total", receiver=tg.name) == 3

    asyncio.run(scenario())


def test_a_burst_goes_out_as_one_message_and_an_ongoing_condition_repeats(notify_env: NotifyTestEnv) -> None:
    env = notify_env
    clock = ManualClock()

    async def scenario() -> None:
        async with LoopbackReceiver() as r:
            hook = webhook(env, r)
            s = settings(env, [hook], group_window_s=30.0, repeat_interval_s=600.0)
            notifier = Notifier(s, env.kafka, env.pg, clock=clock)
            async with notifier.running(dispatch_loop=False, http=False):
                burst = [env.alert("BTCUSDT") for _ in range(3)]
                other = env.alert("ETHUSDT")
                env.produce(*burst, other)
                await stored(env, [hook.name], 4)
                clock.advance(10)
                assert await dispatch(notifier) == 0  # the group window is still open
                clock.advance(25)
                assert await dispatch(notifier) == 2  # the BTCUSDT burst, and ETHUSDT alone
                by_count = {req.body["count"]: req.body for req in r.requests}
                assert sorted(by_count) == [1, 3]
                assert [a["alert_id"] for a in by_count[3]["alerts"]] == [a["alert_id"] for a in burst]
                assert by_count[3]["summary"].endswith("3 alerts (burst)")
                assert notifier.metrics.value("obm_notify_grouped_total", receiver=hook.name) == 2

                ongoing = [env.alert("BTCUSDT") for _ in range(2)]
                env.produce(*ongoing)
                await stored(env, [hook.name], 6)
                clock.advance(100)
                assert await dispatch(notifier) == 0  # 135 s: within the repeat interval of 600 s
                clock.advance(600)
                assert await dispatch(notifier) == 1
                repeat = r.requests[-1].body
                assert repeat["repeat"] is True and repeat["count"] == 2
                assert repeat["summary"].endswith("2 alerts (still firing)")
                assert [a["alert_id"] for a in repeat["alerts"]] == [a["alert_id"] for a in ongoing]
            assert len(r.requests) == 3 and env.statuses([hook.name]) == {"sent": 6}

    asyncio.run(scenario())


def test_silences_set_listed_and_removed_with_the_cli(notify_env: NotifyTestEnv) -> None:
    env = notify_env
    pg = env.pg
    cli_env = {"OBM_PG_HOST": pg.host, "OBM_PG_PORT": str(pg.port), "OBM_PG_USER": pg.user,
               "OBM_PG_PASSWORD": pg.password.get_secret_value(), "OBM_PG_DATABASE": pg.database}  # fmt: skip
    runner = CliRunner(env=cli_env)

    def cli(*args: str) -> str:
        result = runner.invoke(silence, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    async def scenario() -> None:
        async with LoopbackReceiver() as r:
            hook = webhook(env, r)
            set_out = cli("--symbol", f"{env.exchange}:BTC*", "--type", "spread_widening", "--for", "1h",
                          "--comment", "venue maintenance")  # fmt: skip
            silence_id = set_out.split()[1]
            assert f"symbols={env.exchange}:BTC*" in set_out and "active" in set_out
            assert silence_id in cli("list")
            notifier = Notifier(settings(env, [hook]), env.kafka, env.pg)
            async with notifier.running(dispatch_loop=False, http=False):
                muted = env.alert("BTCUSDT", "spread_widening")
                kept = [env.alert("BTCUSDT", "imbalance_extreme"), env.alert("ETHUSDT", "spread_widening")]
                env.produce(muted, *kept)
                await stored(env, [hook.name], 3)
                assert await dispatch(notifier) == 3  # three groups; the muted one sends nothing
                assert sorted(r.accepted_alert_ids()) == sorted(a["alert_id"] for a in kept)
                assert env.statuses([hook.name]) == {"sent": 2, "silenced": 1}
                assert notifier.metrics.value("obm_notify_silenced_total", receiver=hook.name) == 1

                assert cli("remove", silence_id) == f"removed {silence_id}\n"
                assert silence_id not in cli("list")
                assert f"{silence_id}  removed" in cli("list", "--all")
                after = env.alert("BTCUSDT", "spread_widening")
                env.produce(after)
                await stored(env, [hook.name], 4)
                assert await dispatch(notifier) == 1
                assert r.accepted_alert_ids()[-1] == after["alert_id"]

    asyncio.run(scenario())
    no_window = CliRunner(env=cli_env).invoke(
        silence, ["--symbol", "X", "--for", "1h", "--until", "2030-01-01"]
    )
    assert no_window.exit_code == 2 and "exactly one of --for and --until" in no_window.output


def test_receiver_errors_are_retried_with_backoff_until_delivered(notify_env: NotifyTestEnv) -> None:
    env = notify_env

    async def scenario() -> None:
        async with LoopbackReceiver() as r:
            r.script.extend([500, (429, {"Retry-After": "0"}), HOLD, 200])
            hook = webhook(env, r)
            notifier = Notifier(settings(env, [hook], timeout_s=5.0, max_attempts=5), env.kafka, env.pg)
            async with notifier.running(dispatch_loop=False, http=False):
                alert = env.alert()
                env.produce(alert)
                await stored(env, [hook.name], 1)
                assert await dispatch(notifier) == 1
            # the third request is held past the client timeout and never answered in time
            assert [q.status for q in r.requests] == [500, 429, None, 200]
            assert len({q.body["notification_id"] for q in r.requests}) == 1  # one message, four tries
            attempts = env.attempts(hook.name)
            assert [(a[1], a[2], a[3]) for a in attempts] == [
                (1, "retrying", 500), (2, "retrying", 429), (3, "retrying", None), (4, "delivered", 200),
            ]  # fmt: skip
            assert attempts[2][4] == "timeout after 5.0 s" and attempts[0][4].startswith("HTTP 500")
            m = notifier.metrics
            assert m.value("obm_notify_retried_total", receiver=hook.name) == 3
            assert m.value("obm_notify_delivered_total", receiver=hook.name) == 1
            assert env.statuses([hook.name]) == {"sent": 1}

    asyncio.run(scenario())


def test_a_message_is_given_up_after_max_attempts_and_at_once_on_a_refusal(notify_env: NotifyTestEnv) -> None:
    env = notify_env

    async def scenario() -> None:
        async with LoopbackReceiver() as down, LoopbackReceiver() as refusing:
            down.default, refusing.default = 503, 404
            flaky = webhook(env, down, "down")
            gone = NotifyReceiver(name=f"gone-{env.exchange}", kind="slack", url=f"{refusing.url}/services/x")
            s = settings(env, [flaky, gone], max_attempts=3)
            notifier = Notifier(s, env.kafka, env.pg)
            async with notifier.running(dispatch_loop=False, http=False):
                alert = env.alert()
                env.produce(alert)
                await stored(env, [flaky.name, gone.name], 2)
                assert await dispatch(notifier) == 2
                assert await dispatch(notifier) == 0  # failed is final: not picked up again
            assert [(a[1], a[2], a[3]) for a in env.attempts(flaky.name)] == [
                (1, "retrying", 503),
                (2, "retrying", 503),
                (3, "failed", 503),
            ]
            assert [(a[1], a[2], a[3]) for a in env.attempts(gone.name)] == [(1, "failed", 404)]
            assert len(down.requests) == 3 and len(refusing.requests) == 1
            assert env.statuses([flaky.name, gone.name]) == {"failed": 2}
            m = notifier.metrics
            assert m.value("obm_notify_failed_total", receiver=flaky.name) == 1
            assert m.value("obm_notify_failed_total", receiver=gone.name) == 1
            assert m.value("obm_notify_retried_total", receiver=flaky.name) == 2

    asyncio.run(scenario())


def test_alerts_wait_on_the_topic_while_the_database_is_down(notify_env: NotifyTestEnv) -> None:
    """Nothing is committed while the alerts cannot be stored; once the database answers they are
    stored from the batch held meanwhile (read once) and delivered."""
    from confluent_kafka.admin import AdminClient

    from config.clients import client_config
    from obm.operator.group_rewind import committed_offsets
    from obm.stack.health import free_port

    env = notify_env
    admin = AdminClient(client_config(env.kafka))

    async def scenario() -> None:
        async with LoopbackReceiver() as r:
            hook = webhook(env, r)
            s = settings(env, [hook])
            nowhere = env.pg.model_copy(update={"port": free_port()})  # nothing listens there
            notifier = Notifier(s, env.kafka, nowhere)
            async with notifier.running(dispatch_loop=False, http=False):
                m = notifier.metrics
                alerts = [env.alert("BTCUSDT"), env.alert("ETHUSDT")]
                env.produce(*alerts)
                # the first batch is read and held (nothing further is read until it is stored)
                await until("a batch read and the store down",
                            lambda: m.value("obm_notify_alerts_in_total") >= 1
                            and m.value("obm_notify_store_up") == 0)  # fmt: skip
                assert committed_offsets(admin, s.group) == {}
                notifier.store.pg = env.pg  # the database is back
                await stored(env, [hook.name], 2)
                await until(
                    "the offsets committed", lambda: sum(committed_offsets(admin, s.group).values()) == 2
                )
                assert m.value("obm_notify_alerts_in_total") == 2 and m.value("obm_notify_store_up") == 1
                assert await dispatch(notifier) == 2
            assert sorted(r.accepted_alert_ids()) == sorted(a["alert_id"] for a in alerts)

    asyncio.run(scenario())


def test_a_receiver_gets_one_request_at_a_time_and_a_429_pauses_it(notify_env: NotifyTestEnv) -> None:
    env = notify_env

    async def scenario() -> None:
        async with LoopbackReceiver() as r:
            r.script.extend([HOLD])
            hook = webhook(env, r)
            s = settings(env, [hook], timeout_s=60.0, backoff_max_s=2.0)
            notifier = Notifier(s, env.kafka, env.pg)
            async with notifier.running(dispatch_loop=False, http=False):
                assert notifier.dispatcher is not None
                gate = notifier.dispatcher.gates[hook.name]
                env.produce(env.alert("BTCUSDT"), env.alert("ETHUSDT"))
                await stored(env, [hook.name], 2)
                tasks = await notifier.dispatcher.dispatch_due()
                assert len(tasks) == 2
                await until("one request held, the other delivery waiting for the receiver",
                            lambda: len(r.requests) == 1 and gate.waiting == 1)  # fmt: skip
                r.script.extend([(429, {"Retry-After": "1"})])
                r.release()  # the held one is answered 503; the next request gets the 429
                await asyncio.gather(*tasks)
            first, limited, *rest = r.requests
            assert [first.status, limited.status] == [503, 429] and [q.status for q in rest] == [200, 200]
            assert all(q.at - limited.at >= 0.99 for q in rest)  # nothing sent during the Retry-After
            assert env.statuses([hook.name]) == {"sent": 2}

    asyncio.run(scenario())
