"""docs/gateway.md executes: its Python client runs against a real `python -m gateway` process
(production profile, a token) on the session's Kafka and Redis; its close-code table is the enum;
its alert update (with the alert's context) is what a real gateway relays."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import GatewayTestEnv
from gateway_client import TestClient, updates, wait_until

from gateway.protocol import Channel, CloseCode
from obm.stack.health import free_port
from obm.stack.services import http_ok
from schemas.topics import record_key

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def example(name: str) -> str:
    found = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/gateway.md has no example {name!r}"
    return found.group(1)


def test_close_code_table_is_the_enum() -> None:
    rows = set(re.findall(r"^\| (\d{4}) \| `([A-Z_]+)` \|", DOC.read_text(), re.M))
    assert rows == {(str(int(code)), code.name) for code in CloseCode}


def test_the_python_client_example_runs(gw_env: GatewayTestEnv, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ, "OBM_KAFKA_BOOTSTRAP_SERVERS": gw_env.kafka.bootstrap_servers,
        "OBM_KAFKA_TOPIC_PREFIX": gw_env.kafka.topic_prefix, "OBM_REDIS_HOST": gw_env.redis.host,
        "OBM_REDIS_PORT": str(gw_env.redis.port), "OBM_REDIS_KEY_PREFIX": gw_env.redis.key_prefix,
        "OBM_GATEWAY_PORT": str(port), "OBM_GATEWAY_PROFILE": "production", "OBM_GATEWAY_TOKENS": "doc-token",
    }  # fmt: skip
    log = (tmp_path / "gateway.log").open("wb")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(
            "the gateway's /healthz", lambda: http_ok(f"http://127.0.0.1:{port}/healthz") or gateway.poll()
        )
        assert gateway.poll() is None, (tmp_path / "gateway.log").read_text()
        script = tmp_path / "client.py"
        script.write_text(example("client"))
        client_env = {**os.environ, "GATEWAY_URL": f"ws://127.0.0.1:{port}", "GATEWAY_TOKEN": "doc-token",
                      "GATEWAY_KEYS": f"{gw_env.exchange}:*", "UPDATES": "10"}  # fmt: skip
        client = subprocess.Popen([sys.executable, str(script)], env=client_env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)  # fmt: skip
        seq = 0
        deadline = time.monotonic() + 120
        while client.poll() is None and time.monotonic() < deadline:
            gw_env.produce(Channel.METRICS, gw_env.processed(seq, "ETHUSDT"))
            gw_env.flush()
            seq += 1
            time.sleep(0.1)
        out, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("subscribed; keys now:")
        updates = [line for line in lines if line.startswith("update ")]
        assert len(updates) == 10 and all(f"{gw_env.exchange}:ETHUSDT" in line for line in updates)
        first = int(updates[0].split(" seq ")[1].split()[0])
        assert [int(u.split(" seq ")[1].split()[0]) for u in updates] == list(range(first, first + 10))
        assert not [line for line in lines if line.startswith("gap")]
        # without the token the same client is refused with the documented close code
        refused = subprocess.run([sys.executable, str(script)], env={**client_env, "GATEWAY_TOKEN": ""},
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert (
            refused.returncode != 0 and "4401" in refused.stderr and "missing bearer token" in refused.stderr
        )
    finally:
        gateway.terminate()
        assert gateway.wait(30) == 0, (tmp_path / "gateway.log").read_text()


def test_the_documented_alert_update_is_what_the_gateway_relays(
    gw_env: GatewayTestEnv, start_gateway
) -> None:  # type: ignore[no-untyped-def]
    """The alert of docs/gateway.md with its context goes through a real gateway unchanged (the
    context too), beside one without a context (alerts written before it existed)."""
    found = re.search(r"<!-- example: alert-update -->\n```json\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/gateway.md has no example 'alert-update'"
    doc = json.loads(found.group(1))
    assert doc["data"]["context"]["book"] and doc["channel"] == "alerts"
    now = int(time.time() * 1000)
    times = {"window_start": now - 1000, "window_end": now, "event_time": now}
    with_context = {
        **doc["data"],
        **times,
        "exchange": gw_env.exchange,
        "alert_id": f"doc:{gw_env.exchange}:{now}",
    }
    without = {k: v for k, v in with_context.items() if k != "context"} | {
        "alert_id": f"old:{gw_env.exchange}:{now}"
    }
    gw = start_gateway()
    client = TestClient(gw.url)
    key = record_key(gw_env.exchange, doc["data"]["symbol"])
    assert client.request("subscribe", "alerts", [key])["type"] == "subscribed"
    gw_env.produce(Channel.ALERTS, with_context)
    gw_env.produce(Channel.ALERTS, without)
    gw_env.flush()
    got = updates(client.collect(lambda ms: len(updates(ms, "alerts")) >= 2), "alerts", key)
    assert [u["data"] for u in got] == [with_context, without] and [u["seq"] for u in got] == [1, 2]
    assert all(set(u) == set(doc) for u in got)  # the documented message's fields, no more
    assert gw.metrics.value("obm_gateway_records_in_total", channel="alerts") == 2
    client.close()
