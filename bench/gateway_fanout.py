"""Fan-out of the WebSocket gateway (issue 17's target: 1,000 concurrent clients on loopback, 20k
messages/s in, p99 from the Kafka record to the client < 50 ms, one stalled client in the mix).

A Kafka broker and a Redis of their own, the gateway as a real process (`python -m gateway`, local
profile), a producer thread in this process writing orderbook.processed records at a steady rate
over `--symbols` keys (Kafka CreateTime = the moment of produce()), and `--clients` WebSocket
clients spread over `--client-procs` processes (one Python process cannot parse 20k messages/s
for 1,000 sockets and would be the figure), each subscribed to `--keys-per-client` exact keys of
the metrics channel (spread evenly, so every record goes to clients x keys-per-client / symbols of
them), and one client in this process subscribed to `*` that never reads.

Two latencies: end to end, the client's clock when it has parsed an update minus the record's
Kafka timestamp (`ts`: the broker, the gateway and the clients' own event loops); and the
gateway's relay, from its obm_gateway_relay_seconds histogram over the window (the Kafka timestamp
of the oldest record of each batch the gateway relays to the moment the batch's messages were
written to the sockets; bucket bounds, so "<= x ms"). Beside them the CPU each part used over the
window (cores, from /proc), the sequence gaps the reading clients saw (conflation of a client that
fell behind) and the gateway's own metrics.

Run: .venv/bin/python -m bench.gateway_fanout [--clients 1000 --rate 20000 --symbols 1000
--keys-per-client 1 --seconds 30 --client-procs 4]"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Producer
from websockets.asyncio.client import ClientConnection, connect

from bench.flink_harness import broker, create_topics, load_average
from config import KafkaSettings, RedisSettings, StackSettings
from config.clients import producer_config
from obm.stack.health import free_port, wait_until
from obm.stack.redis_server import RedisServer
from obm.stack.services import http_ok
from schemas.topics import ALL_TOPICS, Topic, record_key, topic_name

EXCHANGE = "bench"
RELAYED = 'obm_gateway_records_in_total{channel="metrics"}'
OUT = "obm_gateway_messages_out_total"


def processed(symbol: str, seq: int) -> bytes:
    now = time.time_ns()
    return orjson.dumps({
        "schema_version": 1, "exchange": EXCHANGE, "market": "spot", "symbol": symbol,
        "event_time": now // 1_000_000, "receive_time_ns": now, "sequence_id": seq,
        "best_bid": 99.5, "best_ask": 100.5, "best_bid_size": 1.5, "best_ask_size": 2.0, "mid": 100.0,
        "spread": 1.0, "spread_bps": 100.0, "imbalance_1": 0.1, "imbalance_5": -0.2, "imbalance_10": 0.05,
        "imbalance_20": None, "depth_complete_10bps": True, "crossed": False,
    })  # fmt: skip


def produce_steadily(kafka: KafkaSettings, names: list[str], rate: int, seconds: float,
                     sent: list[int]) -> None:  # fmt: skip
    """`rate` records/s for `seconds`, in slices of 5 ms, round robin over the symbols."""
    producer = Producer(producer_config(kafka, {"linger.ms": 1, "queue.buffering.max.messages": 1_000_000}))
    topic = topic_name(Topic.PROCESSED, kafka.topic_prefix)
    start, n, seq = time.monotonic(), 0, 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate)
        while n < due:
            symbol = names[n % len(names)]
            producer.produce(topic, processed(symbol, seq), key=record_key(EXCHANGE, symbol))
            n += 1
            seq += n % len(names) == 0
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(30)
    sent.append(n)


class Stats:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.updates = 0
        self.gaps = 0
        self.closed: dict[int, int] = {}


async def reader(url: str, keys: list[str], stats: Stats, subscribed: asyncio.Event, counter: list[int],
                 total: int, measuring_from: list[float]) -> None:  # fmt: skip
    async with connect(url, open_timeout=120, max_queue=None, compression=None) as ws:
        await ws.send(orjson.dumps({"type": "subscribe", "channel": "metrics", "keys": keys}).decode())
        last: dict[str, int] = {}
        try:
            async for text in ws:
                msg = orjson.loads(text)
                kind = msg["type"]
                if kind == "update":
                    key, seq = msg["key"], msg["seq"]
                    if key in last and seq != last[key] + 1:
                        stats.gaps += 1
                    last[key] = seq
                    if msg["ts"] >= measuring_from[0]:
                        stats.latencies_ms.append(time.time() * 1000 - msg["ts"])
                        stats.updates += 1
                elif kind == "subscribed":
                    counter[0] += 1
                    if counter[0] == total:
                        subscribed.set()
        except Exception as exc:  # noqa: BLE001 - a closed client is counted, not fatal to the bench
            code = getattr(getattr(exc, "rcvd", None), "code", -1)
            stats.closed[code] = stats.closed.get(code, 0) + 1


async def _clients(url: str, key_sets: list[list[str]], conn: Connection) -> None:
    """One client process: connects and subscribes its clients, says so, measures from the
    Kafka timestamp the parent sends, and sends its figures back when told to stop."""
    stats, subscribed, counter = Stats(), asyncio.Event(), [0]
    measuring_from = [float("inf")]  # Kafka timestamps (ms) from here on are measured
    tasks = []
    for n, keys in enumerate(key_sets):
        tasks.append(asyncio.create_task(
            reader(url, keys, stats, subscribed, counter, len(key_sets), measuring_from)
        ))  # fmt: skip
        if n % 50 == 49:
            await asyncio.sleep(0.05)  # handshakes in waves, not all at once
    await asyncio.wait_for(subscribed.wait(), timeout=600)
    conn.send("subscribed")
    measuring_from[0] = await asyncio.to_thread(conn.recv)
    await asyncio.to_thread(conn.recv)  # stop
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    conn.send((np.array(stats.latencies_ms), stats.updates, stats.gaps, stats.closed))


def client_process(url: str, key_sets: list[list[str]], conn: Connection) -> None:
    asyncio.run(_clients(url, key_sets, conn))


async def stalled_client(url: str) -> ClientConnection:
    """Subscribed to everything, never reads: a small receive buffer and a one-frame queue."""
    host, port = url.removeprefix("ws://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(url, sock=sock, max_queue=1, compression=None, ping_interval=None)
    await ws.send(orjson.dumps({"type": "subscribe", "channel": "metrics", "keys": ["*"]}).decode())
    return ws


def gateway_metrics(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("obm_gateway_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def relay_quantiles(before: dict[str, float], after: dict[str, float], qs: tuple[float, ...]) -> list[float]:
    """Upper bounds (ms) of the relay latency quantiles over the window, from the difference of the
    histogram's cumulative buckets (inf when a quantile lies beyond the last finite bucket)."""
    prefix = 'obm_gateway_relay_seconds_bucket{le="'
    bounds = sorted(
        (float(k[len(prefix) : -2]), after[k] - before.get(k, 0.0)) for k in after if k.startswith(prefix)
    )
    total = bounds[-1][1] if bounds else 0.0
    return [next((le * 1000 for le, n in bounds if total and n >= q * total), float("nan")) for q in qs]


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
            target=client_process, args=(url, key_sets[i :: args.client_procs], child), daemon=True
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
        stalled = await stalled_client(url)
        warmup = threading.Thread(target=produce_steadily, args=(kafka, names, args.rate, args.warmup, []))
        warmup.start()
        await asyncio.to_thread(warmup.join)
        for conn in conns:
            conn.send(time.time() * 1000)
        sent: list[int] = []
        before = await asyncio.to_thread(gateway_metrics, port)
        pids = {"gateway": [gateway_pid], "clients": [p.pid for p in procs if p.pid], "bench": [os.getpid()]}
        cpu0 = {part: sum(map(cpu_seconds, ps)) for part, ps in pids.items()}
        producer = threading.Thread(
            target=produce_steadily, args=(kafka, names, args.rate, args.seconds, sent)
        )
        started = time.monotonic()
        producer.start()
        print(f"window: {args.seconds:g} s from now, {connect_s:.1f} s after the clients started", flush=True)
        await asyncio.to_thread(producer.join)
        elapsed = time.monotonic() - started
        cpu = {part: (sum(map(cpu_seconds, ps)) - cpu0[part]) / elapsed for part, ps in pids.items()}
        await asyncio.sleep(3.0)  # the last records' way through
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
    lat = np.concatenate([r[0] for r in results]) if any(len(r[0]) for r in results) else np.array([np.nan])
    closed: dict[int, int] = {}
    for r in results:
        for code, n in r[3].items():
            closed[code] = closed.get(code, 0) + n
    expected = sent[0] * args.clients * args.keys_per_client // args.symbols
    return {
        "connect_s": connect_s, "sent": sent[0], "elapsed_s": elapsed, "expected": expected,
        "delivered": sum(r[1] for r in results), "gaps": sum(r[2] for r in results), "closed": closed,
        "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
        "p999": float(np.percentile(lat, 99.9)), "max": float(np.max(lat)), "metrics": metrics,
        "relay": relay_quantiles(before, metrics, (0.5, 0.99, 0.999)), "cpu": cpu,
        "relayed": metrics.get(RELAYED, 0.0) - before.get(RELAYED, 0.0), "gateway_cpu_s": gateway_cpu_s,
        "out": metrics.get(OUT, 0.0) - before.get(OUT, 0.0),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=20_000, help="records/s into orderbook.processed")
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--keys-per-client", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--client-procs", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--gateway-from", type=Path, default=None,
                        help="run the gateway from this tree (e.g. a git worktree of an older commit, to compare)")  # fmt: skip
    args = parser.parse_args()
    print(f"{args.clients} clients x {args.keys_per_client} key(s) of {args.symbols}, {args.rate} records/s "
          f"for {args.seconds} s, clients in {args.client_procs} processes, gateway from "
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
