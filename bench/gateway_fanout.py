"""Fan-out of the WebSocket gateway (issue 17's target: 1,000 concurrent clients on loopback, 20k
messages/s in, p99 from the Kafka record to the client < 50 ms, one stalled client in the mix).

A Kafka broker and a Redis of their own, the gateway as a real process (`python -m gateway`, local
profile), a producer thread in this process writing orderbook.processed records at a steady rate
over `--symbols` keys (Kafka CreateTime = the moment of produce()), and `--clients` WebSocket
clients spread over `--client-procs` processes (one Python process cannot parse 20k messages/s
for 1,000 sockets and would be the figure), each subscribed to `--keys-per-client` exact keys of
the metrics channel (spread evenly, so every record goes to clients x keys-per-client / symbols of
them), and one client in this process subscribed to `*` that never reads.

One producer writes the warm-up and the window as one steady stream, and only once a first record
of it was acked: a new idempotent producer gets its first ack ~0.5 s after it is created (on a warm
broker; librdkafka's PID timer; ~1.7 s on a fresh one, a plain producer ~30-90 ms), and the records
produced meanwhile wait in librdkafka with their Kafka timestamp already set. Until 2026-12-06 the
window had a producer of its own, so its first ~0.5 s of records (1.7% of a 30 s window) reached
the gateway at once, late by up to 0.5 s before the gateway saw them, plus the time the gateway and
the clients took to work off that burst: p99 0.4-1.4 s, whatever the gateway did
(`--window-producer new` still runs it that way, to compare).

Two latencies: end to end, the client's clock when it has parsed an update minus the record's
Kafka timestamp (`ts`: the broker, the gateway and the clients' own event loops); and the
gateway's relay, from its obm_gateway_relay_seconds histogram over the window (the Kafka timestamp
of the oldest record of each batch the gateway relays to the moment the batch's messages were
written to the sockets; bucket bounds, so "<= x ms"), with its part before the gateway's event loop
(obm_gateway_fetch_seconds: producer, broker, fetch, poll thread) and the loop's own stalls
(obm_gateway_loop_lag_seconds). Beside them the CPU each part used over the window (cores, from
/proc), the sequence gaps the reading clients saw (conflation of a client that fell behind) and
the gateway's own metrics. Then a timeline, one line per second from the warm-up's start to 3 s
after the window (by Kafka timestamp): the end-to-end p50/p99/max of that second's records, the
producer's own latency to the broker's ack (1 record in 100), the gateway's histograms over that
second, the CPU of the gateway, of the clients and of the whole machine, and the client processes'
largest event-loop delay and GC pause: a start-up backlog shows in the first lines, a periodic
stall as isolated lines, a client-side delay as e2e far above relay.

The way in is split further (2026-12-06): the producer's librdkafka statistics once a second (the
records' wait in its queue, its requests' round trip to the broker), the gateway's
obm_gateway_arrival_seconds (Kafka timestamp -> handed to a poll that was waiting for records:
producer, broker, fetch, with none of the gateway's own backlog) and obm_gateway_handoff_seconds
(handed over -> on the event loop), and the broker's CPU beside the gateway's. `--profile FILE`
records the gateway with py-spy over the window; `--client raw` reads with a bare asyncio protocol
instead of the websockets client (RawReader: the same decoding and checks of every message for
~40% less CPU, which the clients otherwise take from the machine the measured path runs on).

Run: .venv/bin/python -m bench.gateway_fanout [--clients 1000 --rate 20000 --symbols 1000
--keys-per-client 1 --seconds 30 --client-procs 4 --window-producer same --client websockets]"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bench.flink_harness import broker, create_topics, load_average
from bench.gateway_fanout_clients import client_process, stalled_client
from bench.gateway_fanout_producer import (
    EXCHANGE,
    LINGER_MS,
    PRODUCER_STATS,
    listening_pid,
    make_ready,
    new_producer,
    produce_steadily,
)
from config import KafkaSettings, RedisSettings, StackSettings
from obm.stack.health import free_port, wait_until
from obm.stack.redis_server import RedisServer
from obm.stack.services import http_ok
from schemas.topics import ALL_TOPICS, record_key, topic_name

RELAYED = 'obm_gateway_records_in_total{channel="metrics"}'
OUT = "obm_gateway_messages_out_total"


def gateway_metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("obm_gateway_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def relay_quantiles(before: dict[str, float], after: dict[str, float], qs: tuple[float, ...],
                    name: str = "obm_gateway_relay_seconds") -> list[float]:  # fmt: skip
    """Upper bounds (ms) of a histogram's quantiles between two scrapes, from the difference of its
    cumulative buckets (inf when a quantile lies beyond the last finite bucket; nan when the
    histogram got nothing); a quantile of 1.0 is the bucket of the largest observation."""
    prefix = f'{name}_bucket{{le="'
    bounds = sorted(
        (float(k[len(prefix) : -2]), after[k] - before.get(k, 0.0)) for k in after if k.startswith(prefix)
    )
    total = bounds[-1][1] if bounds else 0.0
    return [next((le * 1000 for le, n in bounds if total and n >= q * total), float("nan")) for q in qs]


class Sampler(threading.Thread):
    """Every `interval` s until stopped: the gateway's metrics, the CPU seconds of each part of the
    bench (/proc/<pid>/stat) and of the whole machine (/proc/stat: every process, the broker's and
    other people's included), for the timeline."""

    def __init__(self, port: int, pids: dict[str, list[int]], interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.port, self.pids, self.interval = port, pids, interval
        self.samples: list[tuple[float, dict[str, float], dict[str, float], float]] = []
        self.done = threading.Event()

    def sample(self) -> tuple[float, dict[str, float], dict[str, float], float]:
        wall = time.time()
        cpu = {part: sum(map(cpu_seconds, ps)) for part, ps in self.pids.items()}
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(f) for f in fields]
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait
        return wall, gateway_metrics(self.port), cpu, busy

    def run(self) -> None:
        while True:
            self.samples.append(self.sample())
            if self.done.wait(self.interval):
                return


def timeline(start_ms: float, first: int, seconds: int, lat: np.ndarray, ts: np.ndarray, sampler: Sampler,
             stalls: list[tuple[float, float]], pauses: list[tuple[float, float, int]],
             acks: list[tuple[float, float]], pstats: list[tuple[float, float, float, float, float]]) -> list[str]:  # fmt: skip
    """One line per second of the window (and the drain after it): the end-to-end latency of the
    updates whose Kafka timestamp fell in that second, beside what the gateway measured and the
    CPU each part got while they were written (the sampler's interval that ends in the next
    second, so a row's gateway columns are the writes of that second)."""
    cores = os.cpu_count() or 1
    lines = [
        "timeline (s: second of the window by Kafka timestamp; e2e = Kafka ts -> client parsed, ms; "
        "ack = produce() -> the broker's ack of 1 record in 100, ms; pq/rtt = the producer's statistics "
        "emitted after that second: p99 of the records' wait in its queue and of its requests' round "
        "trip to the broker, ms; relay/fetch/arrive/hand/loop = gateway histograms over the second, "
        "bucket upper bounds in ms (arrive: Kafka ts -> the Kafka client handed the records to a poll "
        "that was waiting for them; hand: that moment -> on the event loop); cpu in cores (kafka: "
        "the broker); machine = all processes of the machine / cores; cl stall = the client "
        "processes' largest event-loop delay, cl gc = their GC pauses, ms)",
        "   s  updates  e2e p50   p99    max | ack p99  max | pq p99 rtt p99 | relay p50  p99  max |"
        " fetch p99  max | arrive p99 hand p99 | loop max | gw cpu  cl cpu  kafka  machine | cl stall  cl gc",
    ]
    ack_at = np.array([a for a, _ in acks] or [np.nan])
    ack_ms = np.array([ms for _, ms in acks] or [np.nan])
    smp = sampler.samples
    # the sampler started at the warm-up's start; its sample k is taken k s later
    offset = int(round((smp[0][0] * 1000 - start_ms) / 1000)) if smp else 0
    for i in range(first, seconds):
        lo, hi = start_ms + i * 1000, start_ms + (i + 1) * 1000
        sel = lat[(ts >= lo) & (ts < hi)]
        if len(sel):
            e2e = (
                f"{len(sel):8d} {np.percentile(sel, 50):8.1f} {np.percentile(sel, 99):6.0f} {sel.max():6.0f}"
            )
        else:
            e2e = f"{0:8d} {'-':>8} {'-':>6} {'-':>6}"
        k = i - offset
        if 0 <= k and k + 1 < len(smp):
            (w0, m0, c0, b0), (w1, m1, c1, b1) = smp[k], smp[k + 1]
            r50, r99, rmax = relay_quantiles(m0, m1, (0.5, 0.99, 1.0))
            f99, fmax = relay_quantiles(m0, m1, (0.99, 1.0), "obm_gateway_fetch_seconds")
            (a99,) = relay_quantiles(m0, m1, (0.99,), "obm_gateway_arrival_seconds")
            (h99,) = relay_quantiles(m0, m1, (0.99,), "obm_gateway_handoff_seconds")
            (lmax,) = relay_quantiles(m0, m1, (1.0,), "obm_gateway_loop_lag_seconds")
            dt = w1 - w0
            gw = f"{r50:9g} {r99:4g} {rmax:4g} | {f99:9g} {fmax:4g} | {a99:10g} {h99:8g} | {lmax:8g} |"
            cpu = "".join(f" {(c1[part] - c0[part]) / dt:6.2f} " for part in ("gateway", "clients", "kafka"))
            cpu += f" {(b1 - b0) / dt / cores:6.0%}"
        else:
            gw = f"{'':9} {'':4} {'':4} | {'':9} {'':4} | {'':10} {'':8} | {'':8} |"
            cpu = f" {'':6}  {'':6}  {'':6}  {'':6}"
        sel = ack_ms[(ack_at >= lo) & (ack_at < hi)]
        ack = f"{np.percentile(sel, 99):7.0f} {sel.max():4.0f}" if len(sel) else f"{'-':>7} {'-':>4}"
        emitted = [st for st in pstats if hi <= st[0] * 1000 < hi + 1000]
        pq = f"{emitted[0][1]:6.0f} {emitted[0][3]:7.0f}" if emitted else f"{'-':>6} {'-':>7}"
        stall = max((ms for t, ms in stalls if lo <= t * 1000 < hi), default=0.0)
        gcs = [ms for t, ms, _g in pauses if lo <= t * 1000 < hi]
        lines.append(f"{i:4d} {e2e} | {ack} | {pq} | {gw}{cpu} | {stall:8.0f} {max(gcs, default=0.0):6.0f}")
    return lines


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc/<pid>/stat, its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_clients(args: argparse.Namespace, url: str, kafka: KafkaSettings, port: int,
                      gateway_pid: int) -> dict[str, Any]:  # fmt: skip
    names = [f"SYM{i:04d}" for i in range(args.symbols)]
    key_sets = [[record_key(EXCHANGE, names[(c * args.keys_per_client + k) % len(names)])
                 for k in range(args.keys_per_client)] for c in range(args.clients)]  # fmt: skip
    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    t0 = time.monotonic()
    for i in range(args.client_procs):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=client_process,
            args=(url, key_sets[i :: args.client_procs], child, args.client),
            daemon=True,
        )
        proc.start()
        procs.append(proc)
        conns.append(parent)
    try:
        for conn in conns:
            if not await asyncio.to_thread(conn.poll, 600):
                raise RuntimeError("a client process did not subscribe its clients in 600 s")
            assert conn.recv() == "subscribed"
        connect_s = time.monotonic() - t0
        sent: list[int] = []
        acks: list[tuple[float, float]] = []
        broker_pid = listening_pid(kafka.port)
        pids = {"gateway": [gateway_pid], "clients": [p.pid for p in procs if p.pid], "bench": [os.getpid()],
                "kafka": [broker_pid] if broker_pid else []}  # fmt: skip
        sampler = Sampler(port, pids)
        if args.window_producer == "same":
            # One producer, ready before anything is measured, writing the warm-up and the window
            # as one steady stream: the window starts in whatever state the warm-up left.
            producer = new_producer(kafka)
            ready_s = await asyncio.to_thread(make_ready, producer, kafka)
            print(f"producer ready (first record acked) in {ready_s:.2f} s", flush=True)
        stalled = await stalled_client(url)
        warm_ms = time.time() * 1000
        for conn in conns:
            conn.send(warm_ms)  # the clients measure from the warm-up on, the window is chosen below
        sampler.start()
        if args.window_producer == "same":
            at_boundary, marks = threading.Event(), list[tuple[int, float]]()
            stream = threading.Thread(target=produce_steadily, args=(
                producer, kafka, names, args.rate, args.warmup + args.seconds, sent, acks, args.warmup,
                at_boundary, marks))  # fmt: skip
            stream.start()
            await asyncio.to_thread(at_boundary.wait)
            before = await asyncio.to_thread(gateway_metrics, port)
            cpu0 = {part: sum(map(cpu_seconds, ps)) for part, ps in pids.items()}
            started = time.monotonic()
            in_warmup, start_ms = marks[0]
        else:
            # The old way: a warm-up producer, then a new one for the window (its metadata and PID
            # fetched while the window's first records are produced).
            warmup = threading.Thread(
                target=produce_steadily, args=(kafka, kafka, names, args.rate, args.warmup, [], acks)
            )
            warmup.start()
            await asyncio.to_thread(warmup.join)
            start_ms, in_warmup = time.time() * 1000, 0
            before = await asyncio.to_thread(gateway_metrics, port)
            cpu0 = {part: sum(map(cpu_seconds, ps)) for part, ps in pids.items()}
            stream = threading.Thread(
                target=produce_steadily, args=(kafka, kafka, names, args.rate, args.seconds, sent, acks)
            )
            started = time.monotonic()
            stream.start()
        print(f"window: {args.seconds:g} s from now, {connect_s:.1f} s after the clients started", flush=True)
        spy = None
        if args.profile is not None:  # py-spy on the gateway over the window (collapsed stacks)
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
                                    str(gateway_pid), "--duration", str(int(args.seconds)), "--rate", "50",
                                    "--nonblocking", "--format", "raw", "--output", str(args.profile)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        await asyncio.to_thread(stream.join)
        sent[0] -= in_warmup
        elapsed = time.monotonic() - started
        cpu = {part: (sum(map(cpu_seconds, ps)) - cpu0[part]) / elapsed for part, ps in pids.items()}
        await asyncio.sleep(3.0)  # the last records' way through
        if spy is not None:
            await asyncio.to_thread(spy.wait, 60)
        sampler.done.set()
        await asyncio.to_thread(sampler.join)
        metrics = await asyncio.to_thread(gateway_metrics, port)
        gateway_cpu_s = cpu_seconds(gateway_pid) - cpu0["gateway"]
        for conn in conns:
            conn.send("stop")
        results = [await asyncio.to_thread(conn.recv) for conn in conns]
        stalled.transport.abort()
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    lat_all = (
        np.concatenate([r[0] for r in results]) if any(len(r[0]) for r in results) else np.array([np.nan])
    )
    ts = np.concatenate([r[4] for r in results]) if any(len(r[4]) for r in results) else np.array([np.nan])
    window = ts >= start_ms
    lat = lat_all[window] if window.any() else np.array([np.nan])
    stalls = [s for r in results for s in r[5]]
    pauses = [p for r in results for p in r[6]]
    per_proc = [
        (float(np.percentile(r[0][r[4] >= start_ms], 50)), float(np.percentile(r[0][r[4] >= start_ms], 99)),
         max((ms for t, ms in r[5] if t * 1000 >= start_ms), default=0.0),
         sum(t * 1000 >= start_ms for t, _ms, _g in r[6]), sum(ms for t, ms, _g in r[6] if t * 1000 >= start_ms))
        for r in results if (r[4] >= start_ms).any()
    ]  # fmt: skip
    closed: dict[int, int] = {}
    for r in results:
        for code, n in r[3].items():
            closed[code] = closed.get(code, 0) + n
    expected = sent[0] * args.clients * args.keys_per_client // args.symbols
    return {
        "connect_s": connect_s, "sent": sent[0], "elapsed_s": elapsed, "expected": expected,
        "delivered": int(window.sum()), "gaps": sum(r[2] for r in results), "closed": closed,
        "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
        "p999": float(np.percentile(lat, 99.9)), "max": float(np.max(lat)), "metrics": metrics,
        "relay": relay_quantiles(before, metrics, (0.5, 0.99, 0.999)), "cpu": cpu,
        "relayed": metrics.get(RELAYED, 0.0) - before.get(RELAYED, 0.0), "gateway_cpu_s": gateway_cpu_s,
        "out": metrics.get(OUT, 0.0) - before.get(OUT, 0.0),
        "timeline": timeline(start_ms, -int(np.ceil(args.warmup)), int(np.ceil(args.seconds)) + 3, lat_all, ts,
                             sampler, stalls, pauses, acks, PRODUCER_STATS.samples),
        "per_proc": per_proc, "fetch": relay_quantiles(before, metrics, (0.5, 0.99, 1.0), "obm_gateway_fetch_seconds"),
        "loop_lag": relay_quantiles(before, metrics, (0.99, 1.0), "obm_gateway_loop_lag_seconds"),
        "arrival": relay_quantiles(before, metrics, (0.5, 0.99, 1.0), "obm_gateway_arrival_seconds"),
        "handoff": relay_quantiles(before, metrics, (0.5, 0.99, 1.0), "obm_gateway_handoff_seconds"),
        "pstats": [st for st in PRODUCER_STATS.samples if st[0] * 1000 >= start_ms],
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20_000, help="records/s into orderbook.processed")
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--keys-per-client", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--window-producer", choices=("same", "new"), default="same",
                        help="same: one producer, acked once before the warm-up, writes warm-up and window "
                        "as one stream; new: the old way, a new producer for the window")  # fmt: skip
    parser.add_argument("--client", choices=("websockets", "raw"), default="websockets",
                        help="the reading clients: the websockets library's asyncio client, or a bare asyncio "
                        "protocol (RawReader) that costs ~40%% less CPU per message")  # fmt: skip
    parser.add_argument("--linger-ms", type=int, default=1,
                        help="linger.ms of the bench's producer (the project's producers use 5)")  # fmt: skip
    parser.add_argument("--client-procs", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record the gateway with py-spy over the window (50 Hz, collapsed stacks) to this file")  # fmt: skip
    parser.add_argument("--gateway-from", type=Path, default=None,
                        help="run the gateway from this tree (e.g. a git worktree of an older commit, to compare)")  # fmt: skip
    args = parser.parse_args()
    LINGER_MS[0] = args.linger_ms
    print(f"{args.clients} clients x {args.keys_per_client} key(s) of {args.symbols}, {args.rate} records/s "
          f"for {args.seconds} s, clients ({args.client}) in {args.client_procs} processes, producer linger.ms "
          f"{args.linger_ms}, gateway from "
          f"{args.gateway_from or 'this tree'}; before: {load_average()}", flush=True)  # fmt: skip
    state = Path(tempfile.mkdtemp(prefix="obm-bench-gateway-"))
    redis = RedisServer(RedisSettings(port=free_port()), StackSettings(state_dir=state, start_timeout_s=120),
                        persistent=False)  # fmt: skip
    gateway: subprocess.Popen[bytes] | None = None
    try:
        with broker() as kafka:
            create_topics(kafka, [topic_name(t, kafka.topic_prefix) for t in ALL_TOPICS])
            redis.start()
            port = free_port()
            env = {
                **os.environ, "OBM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                "OBM_KAFKA_TOPIC_PREFIX": kafka.topic_prefix, "OBM_REDIS_PORT": str(redis.settings.port),
                "OBM_GATEWAY_PORT": str(port), "OBM_GATEWAY_PROFILE": "local",
                "OBM_GATEWAY_MAX_CONNECTIONS_PER_TOKEN": str(args.clients + 10), "OBM_GATEWAY_SEND_TIMEOUT_S": "5",
            }  # fmt: skip
            tree = (args.gateway_from or Path.cwd()).resolve()  # `python -m` imports from its cwd first
            env["PYTHONPATH"] = str(tree)
            log = (state / "gateway.log").open("wb")
            gateway = subprocess.Popen(
                [sys.executable, "-m", "gateway"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tree
            )
            wait_until("gateway", lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout_s=120,
                       alive=lambda: gateway is not None and gateway.poll() is None)  # fmt: skip
            r = asyncio.run(run_clients(args, f"ws://127.0.0.1:{port}", kafka, port, gateway.pid))
            m = r["metrics"]
            print(f"in: {r['sent']} records in {r['elapsed_s']:.1f} s ({r['sent'] / r['elapsed_s']:.0f}/s); "
                  f"relayed by the gateway: {m.get(RELAYED, 0):.0f}")  # fmt: skip
            print(
                f"out: {r['delivered']} updates received by the reading clients in the window "
                f"(expected {r['expected']}), {r['gaps']} sequence gaps, closed: {r['closed'] or 'none'}"
            )
            print(
                f"latency Kafka timestamp -> client: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
                f"p99.9 {r['p999']:.1f} ms, max {r['max']:.1f} ms"
            )
            p50, p99, p999 = r["relay"]
            print(f"gateway relay, Kafka timestamp -> written to the sockets (oldest record of each batch): "
                  f"p50 <= {p50:g} ms, p99 <= {p99:g} ms, p99.9 <= {p999:g} ms")  # fmt: skip
            f50, f99, fmax = r["fetch"]
            print(f"of which the way in, Kafka timestamp -> the poll's records on the gateway's loop (oldest "
                  f"of each poll): p50 <= {f50:g} ms, p99 <= {f99:g} ms, max <= {fmax:g} ms; gateway event "
                  f"loop late on a {50} ms timer: p99 <= {r['loop_lag'][0]:g} ms, max <= {r['loop_lag'][1]:g} ms")  # fmt: skip
            a50, a99, amax = r["arrival"]
            h50, h99, hmax = r["handoff"]
            print(f"  the way in split: Kafka timestamp -> handed to a poll that was waiting for records (the "
                  f"gateway idle): p50 <= {a50:g} ms, p99 <= {a99:g} ms, max <= {amax:g} ms; handed over -> on "
                  f"the loop (decode, judge, thread switch): p50 <= {h50:g} ms, p99 <= {h99:g} ms, max <= {hmax:g} ms")  # fmt: skip
            if r["pstats"]:
                pq = np.array([st[1:] for st in r["pstats"]])
                print(f"  the bench's producer, per second of the window (librdkafka statistics): queue wait "
                      f"p99 {np.median(pq[:, 0]):.1f} ms median of seconds, {pq[:, 0].max():.0f} worst, max "
                      f"{pq[:, 1].max():.0f}; request round trip to the broker p99 {np.median(pq[:, 2]):.1f} ms "
                      f"median, {pq[:, 2].max():.0f} worst, max {pq[:, 3].max():.0f}")  # fmt: skip
            print(
                "client processes (e2e p50 / p99 ms, largest loop stall ms, GC passes, GC ms): "
                + "; ".join(f"{a:.1f} / {b:.0f}, {c:.0f}, {d}, {e:.0f}" for a, b, c, d, e in r["per_proc"])
            )
            print("\n".join(r["timeline"]))
            print("CPU over the window (cores): " + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
                  + f" ({args.client_procs} client processes; bench = producer thread and stalled client)")  # fmt: skip
            # CPU time per record: comparable between runs even when the machine's load decides
            # how much of a core the gateway gets (and so whether it keeps up).
            per_record = r["gateway_cpu_s"] / r["relayed"] * 1e6 if r["relayed"] else float("nan")
            print(f"gateway CPU from the window's start to 3 s after it: {r['gateway_cpu_s']:.1f} s for "
                  f"{r['relayed']:.0f} records relayed and {r['out']:.0f} messages written: "
                  f"{per_record:.1f} us per record")  # fmt: skip
            print("gateway: " + ", ".join(f"{k.removeprefix('obm_gateway_')}={v:g}" for k, v in sorted(m.items())
                                          if "_created" not in k and "relay_seconds" not in k))  # fmt: skip
            print(f"after: {load_average()}")
    finally:
        if gateway is not None:
            gateway.terminate()
            gateway.wait(30)
        redis.stop()
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
