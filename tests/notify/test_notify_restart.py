"""`python -m notify` as its own process, killed (SIGKILL) while deliveries are in flight and
started again: every alert reaches the receiver exactly once (the ones in flight at the kill were
never answered, so they go again, with the same notification id), alerts produced while it was down
too; /healthz and /metrics answer; SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from notify_support import HOLD, LoopbackReceiver, NotifyTestEnv, until

from obm.stack.health import free_port

pytestmark = pytest.mark.integration


def notifier_env(env: NotifyTestEnv, receiver_url: str, port: int) -> dict[str, str]:
    pg = env.pg
    receivers = [{"name": f"hook-{env.exchange}", "kind": "webhook", "url": f"{receiver_url}/hook"}]
    return {
        **os.environ,
        "OBM_KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap_servers,
        "OBM_KAFKA_TOPIC_PREFIX": env.kafka.topic_prefix,
        "OBM_PG_HOST": pg.host, "OBM_PG_PORT": str(pg.port), "OBM_PG_USER": pg.user,
        "OBM_PG_PASSWORD": pg.password.get_secret_value(), "OBM_PG_DATABASE": pg.database,
        "OBM_NOTIFY_PORT": str(port),
        "OBM_NOTIFY_GROUP": f"g-{env.exchange}",
        "OBM_NOTIFY_INSTANCE_ID": f"i-{env.exchange}",
        "OBM_NOTIFY_RECEIVERS": json.dumps(receivers),
        "OBM_NOTIFY_GROUP_WINDOW_S": "0",
        "OBM_NOTIFY_REPEAT_INTERVAL_S": "0",
        "OBM_NOTIFY_TICK_S": "0.1",
        "OBM_NOTIFY_TIMEOUT_S": "60",
        "OBM_NOTIFY_MAX_IN_FLIGHT_PER_RECEIVER": "3",  # three deliveries in flight at the kill
    }  # fmt: skip


async def http_get(url: str) -> tuple[int, str]:
    try:
        async with aiohttp.ClientSession() as s, s.get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return resp.status, await resp.text()
    except aiohttp.ClientError:
        return 0, ""


def test_a_killed_notifier_restarts_without_losing_or_repeating_a_delivery(
    notify_env: NotifyTestEnv, tmp_path: Path
) -> None:
    env = notify_env
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "notify.log"

    async def start(variables: dict[str, str]) -> asyncio.subprocess.Process:
        with log.open("a") as out:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "notify",
                env=variables,
                stdout=out,
                stderr=out,
                stdin=asyncio.subprocess.DEVNULL,
            )
        await until("the notifier's /healthz answers 200", lambda: healthy(proc))
        return proc

    async def healthy(proc: asyncio.subprocess.Process) -> bool:
        assert proc.returncode is None, f"the notifier exited:\n{log.read_text()[-3000:]}"
        return (await http_get(f"{base}/healthz"))[0] == 200

    async def scenario() -> None:
        async with LoopbackReceiver() as r:
            name = f"hook-{env.exchange}"
            variables = notifier_env(env, r.url, port)
            proc = await start(variables)
            try:
                delivered_before = [env.alert(f"A{i}X") for i in range(3)]
                env.produce(*delivered_before)
                await until("the first 3 alerts accepted", lambda: len(r.accepted()) == 3)

                r.default = HOLD  # the next deliveries reach the receiver and get no answer
                in_flight = [env.alert(f"B{i}X") for i in range(3)]
                env.produce(*in_flight)
                await until("3 deliveries in flight", lambda: len(r.requests) == 6)
                proc.kill()
                assert await proc.wait() == -signal.SIGKILL
                r.default = 200
                r.release()  # the held requests end now; their client is gone

                while_down = [env.alert(f"C{i}X") for i in range(2)]
                env.produce(*while_down)
                proc = await start(variables)
                await until("all 8 alerts recorded as sent", lambda: env.statuses([name]) == {"sent": 8})

                every = delivered_before + in_flight + while_down
                assert Counter(r.accepted_alert_ids()) == Counter(a["alert_id"] for a in every)
                for a in in_flight:  # sent twice, answered once, one notification id
                    carrying = [q for q in r.requests if q.body["alerts"][0]["alert_id"] == a["alert_id"]]
                    assert [q.status for q in carrying] == [503, 200]
                    assert len({q.body["notification_id"] for q in carrying}) == 1
                status, metrics = await http_get(f"{base}/metrics")
                assert status == 200
                assert f'obm_notify_delivered_total{{receiver="{name}"}} 5.0' in metrics  # since the restart
                assert "obm_notify_store_up 1.0" in metrics
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                    assert await proc.wait() == 0, log.read_text()[-3000:]

    asyncio.run(scenario())
