"""`start_all` starts components concurrently but never before what they need (supervisor.NEEDS),
and a failed component keeps everything that needs it from starting."""

from __future__ import annotations

import threading
import time

import pytest

from obm.stack import supervisor
from obm.stack.supervisor import NEEDS, StackConfig, start_all

pytestmark = pytest.mark.unit

ORDER = ["kafka", "postgres", "redis", "flink", "simulator", "producer", "sink-postgres", "sink-redis",
         "dashboard", "gateway", "notify", "flink-jobs"]  # fmt: skip


class FakeComponent:
    def __init__(self, name: str, log: list[tuple[str, str]], lock: threading.Lock, delay: float,
                 fail: bool = False) -> None:  # fmt: skip
        self.name, self.log, self.lock, self.delay, self.fail = name, log, lock, delay, fail

    def start(self) -> None:
        with self.lock:
            self.log.append(("start", self.name))
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError(f"{self.name} broke")
        with self.lock:
            self.log.append(("ready", self.name))


def run(monkeypatch, tmp_path, delays: dict[str, float], failing: str | None = None):
    log: list[tuple[str, str]] = []
    lock = threading.Lock()
    comps = [FakeComponent(n, log, lock, delays.get(n, 0.01), fail=(n == failing)) for n in ORDER]
    monkeypatch.setattr(supervisor, "build_components", lambda cfg: comps)
    cfg = StackConfig()
    cfg.stack = cfg.stack.model_copy(update={"state_dir": tmp_path})
    lines: list[str] = []
    return log, lines, (lambda: start_all(cfg, lines.append))


def test_every_component_starts_after_what_it_needs_is_ready(monkeypatch, tmp_path):
    # kafka is slow: the stores and Flink must not wait for it, the Kafka clients must.
    log, lines, go = run(monkeypatch, tmp_path, {"kafka": 0.3, "flink": 0.2})
    go()
    at = {event: i for i, event in enumerate(log)}
    for name, needs in NEEDS.items():
        for need in needs:
            assert at[("ready", need)] < at[("start", name)], (name, need, log)
    # Independent components overlapped the slow broker instead of queueing behind it.
    assert at[("ready", "postgres")] < at[("ready", "kafka")]
    assert at[("start", "flink")] < at[("ready", "kafka")]
    assert at[("start", "dashboard")] < at[("ready", "kafka")]
    assert sum(1 for line in lines if "ready in" in line) == len(ORDER)


def test_a_failed_component_stops_what_needs_it(monkeypatch, tmp_path):
    log, _, go = run(monkeypatch, tmp_path, {}, failing="kafka")
    with pytest.raises(RuntimeError, match="kafka broke"):
        go()
    started = {name for kind, name in log if kind == "start"}
    for name, needs in NEEDS.items():
        if "kafka" in needs:
            assert name not in started, log
    assert ("ready", "postgres") in log
