"""Our producer side by side with cryptofeed 2.4.1, keeping the same Binance book from the same
replayed WebSocket, in one run: book updates per second of each, and their ratio.

What runs:
  - the simulator (its own process) replays a capture at maximum speed over TLS (cryptofeed accepts
    only wss://; the certificate is self-signed, made here with openssl, and trusted by both
    clients through SSL_CERT_FILE / REQUESTS_CA_BUNDLE);
  - our producer (its own process, `--role ours`): the real ProducerService, every book state
    serialized as an orderbook.raw record into a real local Kafka broker (idempotent, lz4), timed
    from the first record to the last one acknowledged by the broker;
  - cryptofeed (its own process, in its own venv .cache/cryptofeed-venv made here, never in the
    project's dependencies): Binance feed subclassed to point at the simulator, L2_BOOK callback
    that only counts, uvloop (its default); timed from the first book callback (the snapshot) to
    the last. It does less than ours (no serialization, no Kafka): the ratio is conservative.
Each client is one process on one event loop; they run one after the other (alternating when
--rounds > 1) so they do not compete for the 2 cores. At the end both report their top 20 levels
per side, which must be equal (same books).
Input: the shared Binance capture's diffs, looped with shifted update ids (real frame shapes).

Our producer runs once per engine of its hot path (`--engines native,python`: the compiled path
and the Python reference), each round alternating ours and cryptofeed.

Before the rounds, one warm-up round (`--warmup`) runs every client the same way and is reported
apart, not counted: ours runs first in a round, and in the first round it met a broker and a
simulator just started (2026-12-06: 74k per CPU-second against 114-118k in rounds 2-3).

Run: .venv/bin/python -m bench.producer_cryptofeed [--frames 30000] [--rounds 2] [--warmup 1] [--engines native,python]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from obm.stack.kafka_broker import KafkaBroker

REPO = Path(__file__).resolve().parent.parent
PEER_VENV = REPO / ".cache" / "cryptofeed-venv"
PEER_VERSION = "2.4.1"


def ensure_peer_venv() -> Path:
    """The cryptofeed venv, created and filled on first use (idempotent)."""
    python = PEER_VENV / "bin" / "python"
    probe = [
        str(python),
        "-c",
        f"import cryptofeed, importlib.metadata as m; assert m.version('cryptofeed') == '{PEER_VERSION}'",
    ]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"cryptofeed=={PEER_VERSION}"], check=True)
    subprocess.run(probe, check=True)
    return python


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "sim-cert.pem", folder / "sim-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def start_simulator(
    capture: Path, cert: Path | None = None, key: Path | None = None
) -> tuple[subprocess.Popen[str], str, str]:
    """The simulator replaying `capture` at full speed in its own process (over wss:// with a
    certificate and key, else ws://): the process and its WebSocket and REST URLs."""
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)] if cert is not None and key is not None else []
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer.simulator",
            "--port",
            "0",
            "--replay",
            str(capture),
            "--speed",
            "0",
            *tls,
            "--log-level",
            "WARNING",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert sim.stderr is not None
    line = ""
    while "simulator ws=" not in line:
        line = sim.stderr.readline()
        if not line and sim.poll() is not None:
            raise RuntimeError("simulator did not start")
    match = re.search(r"ws=(\S+) rest=(\S+)", line)
    assert match is not None
    return sim, match.group(1), match.group(2)


def client_env(cert: Path) -> dict[str, str]:
    """The clients' environment: the simulator's certificate trusted (aiohttp and websockets read
    SSL_CERT_FILE, requests REQUESTS_CA_BUNDLE) and the repository importable (our side, and
    bench/cryptofeed_peer.py for the peers)."""
    return dict(os.environ, SSL_CERT_FILE=str(cert), REQUESTS_CA_BUNDLE=str(cert), PYTHONPATH=str(REPO))


def start_broker(folder: Path) -> KafkaBroker:
    """A Kafka broker of the bench's own on free ports, its state in `folder`, started."""
    from config import KafkaSettings, StackSettings
    from obm.stack.health import free_port
    from obm.stack.kafka_broker import KafkaBroker

    broker = KafkaBroker(
        KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{free_port()}", controller_port=free_port(), partitions=3
        ),
        StackSettings(state_dir=folder / "state", start_timeout_s=180),
    )
    broker.start()
    return broker


# -- our side ------------------------------------------------------------------------------------


def run_ours(
    ws_url: str, rest_url: str, bootstrap: str, prefix: str, symbol: str, updates: int, engine: str = "native"
) -> dict:
    """In this process: the producer service until `updates` records are acknowledged."""
    from config import KafkaSettings, ProducerSettings
    from producer.book import to_text
    from producer.service import ProducerOptions, ProducerService

    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    settings = ProducerSettings(  # books only (trades default on since 2026-12-06): as measured before
        symbols=[symbol], ws_url=ws_url, rest_url=rest_url, metrics_port=0, queue_max_messages=500_000,
        trades=False,
    )  # fmt: skip
    service = ProducerService(settings, kafka, ProducerOptions(http=False, engine=engine))
    state = service.feed.symbols[symbol]

    async def run() -> dict:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        while state.records == 0:
            await asyncio.sleep(0.0005)
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        while state.records < updates:
            await asyncio.sleep(0.005)
        while service.publisher.delivered < service.publisher.produced:
            service.publisher.poll(0.005)
            await asyncio.sleep(0)
        wall, cpu, main = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
        book = state.sync.book
        bids = [[to_text(p), to_text(s)] for p, s in book.levels("bids", 20)]
        asks = [[to_text(p), to_text(s)] for p, s in book.levels("asks", 20)]
        stop.set()
        await task
        return {
            "client": f"obm producer -> Kafka ({engine} engine)",
            "updates": state.records,
            "wall_s": wall,
            "cpu_s": cpu,
            "main_thread_cpu_s": main,
            "gaps": state.sync.gaps,
            "dlq": service.feed.dlq,
            "delivery_errors": service.publisher.delivery_errors,
            "bids": bids,
            "asks": asks,
        }

    return asyncio.run(run())


# -- the comparison ------------------------------------------------------------------------------


def add_ours_role_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of a producer bench's `--role ours` child process (see ours_command)."""
    parser.add_argument("--role", choices=["compare", "ours"], default="compare")
    parser.add_argument("--ws-url")
    parser.add_argument("--rest-url")
    parser.add_argument("--bootstrap")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--updates", type=int)


def ours_command(
    module: str, ws_url: str, rest_url: str, bootstrap: str, prefix: str, updates: int, *extra: str
) -> list[str]:
    """`python -m <module> --role ours ...`: our producer in a process of its own, for run_client."""
    cmd = [sys.executable, "-m", module, "--role", "ours", "--ws-url", ws_url, "--rest-url", rest_url]
    return [*cmd, "--bootstrap", bootstrap, "--prefix", prefix, "--updates", str(updates), *extra]


def run_client(cmd: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{cmd[0:3]} failed ({out.returncode}): {out.stderr[-3000:]}")
    return json.loads(lines[-1])


def same_levels(a: list[list[str]], b: list[list[str]]) -> bool:
    return [(Decimal(p), Decimal(s)) for p, s in a] == [(Decimal(p), Decimal(s)) for p, s in b]


def compare(frames: int, rounds: int, engines: list[str], warmup: int = 1) -> None:
    from bench.producer_throughput import looped_binance_capture
    from producer.publisher import create_topics_if_absent, topic_names

    peer_python = ensure_peer_venv()
    tmp = Path(tempfile.mkdtemp(prefix="obm-bench-cryptofeed-"))
    capture = tmp / "binance-looped.txt.gz"
    n, levels = looped_binance_capture(capture, frames)
    cert, key = self_signed_cert(tmp)
    env = client_env(cert)
    broker = start_broker(tmp)
    sim, ws_url, rest_url = start_simulator(capture, cert, key)
    loads = [os.getloadavg()[0]]
    names = [f"ours-{e}" for e in engines]
    results: dict[str, list[dict]] = {name: [] for name in [*names, "cryptofeed"]}

    def ours(round_: int, engine: str) -> dict:
        prefix = f"cmp{round_}{engine}."
        kafka = broker.settings.model_copy(update={"topic_prefix": prefix})
        create_topics_if_absent(kafka, list(topic_names(kafka)), partitions=3)
        cmd = ours_command(
            "bench.producer_cryptofeed", ws_url, rest_url, broker.settings.bootstrap_servers, prefix, n,
            "--engine", engine,
        )  # fmt: skip
        return run_client(cmd, env)

    def theirs() -> dict:
        cmd = [str(peer_python), str(REPO / "bench" / "producer_cryptofeed_peer.py"), "--ws-url", ws_url]
        cmd += ["--rest-url", rest_url, "--updates", str(n + 1), "--log-file", str(tmp / "feedhandler.log")]
        return run_client(cmd, env)

    warm: list[str] = []
    try:
        for r in range(warmup + rounds):  # alternated, so every client sees the same machine load
            this_round = {name: ours(r, engine) for engine, name in zip(engines, names, strict=True)}
            this_round["cryptofeed"] = theirs()
            if r < warmup:  # reported apart, not counted (see the module's docstring)
                warm += [
                    f"{res['client']}: {res['updates'] / res['cpu_s']:,.0f} per CPU-second"
                    for res in this_round.values()
                ]
                continue
            for name, res in this_round.items():
                results[name].append(res)
            loads.append(os.getloadavg()[0])
    finally:
        sim.terminate()
        sim.wait(timeout=30)
        broker.stop()

    print(f"input: {n} diff frames ({levels / n:.1f} levels/frame), replayed over wss:// at maximum speed")
    for line in warm:
        print(f"warm-up round (not counted): {line}")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average (1 min) "
        f"during the rounds {min(loads):.1f}-{max(loads):.1f}"
    )
    print("| client | round | updates | wall s | updates/s (wall) | updates per CPU-second (process) |")
    print("|---|---|---|---|---|---|")
    rates: dict[str, list[float]] = {name: [] for name in results}
    cpu_rates: dict[str, list[float]] = {name: [] for name in results}
    for name, runs in results.items():
        for i, res in enumerate(runs):
            rate, cpu_rate = res["updates"] / res["wall_s"], res["updates"] / res["cpu_s"]
            rates[name].append(rate)
            cpu_rates[name].append(cpu_rate)
            extra = ""
            if "main_thread_cpu_s" in res:
                extra = f" (main thread alone: {res['updates'] / res['main_thread_cpu_s']:,.0f})"
            print(
                f"| {res['client']} | {i + 1} | {res['updates']:,} | {res['wall_s']:.2f} | {rate:,.0f} | "
                f"{cpu_rate:,.0f}{extra} |"
            )
    books_equal = True
    for name in names:
        runs = results[name]
        assert all(r["gaps"] == 0 and r["dlq"] == 0 and r["delivery_errors"] == 0 for r in runs), runs[-1]
        books_equal = books_equal and all(
            same_levels(o["bids"], c["bids"]) and same_levels(o["asks"], c["asks"])
            for o, c in zip(runs, results["cryptofeed"], strict=True)
        )
    print(f"same top-20 book at the end in every round: {books_equal}")
    for name in names:
        ratio = statistics.median(rates[name]) / statistics.median(rates["cryptofeed"])
        cpu_ratio = statistics.median(cpu_rates[name]) / statistics.median(cpu_rates["cryptofeed"])
        print(
            f"ratio {name} / cryptofeed (medians): {ratio:.2f}x updates/s (wall), "
            f"{cpu_ratio:.2f}x per CPU-second"
        )
    if not books_equal:
        raise SystemExit("the clients ended with different books")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (reported apart)")
    add_ours_role_arguments(parser)
    parser.add_argument("--symbol", default="ETHUSDT")
    parser.add_argument("--engine", default="native", help="ours: the hot path's engine")
    parser.add_argument("--engines", default="native,python", help="compare: our engines to run")
    args = parser.parse_args()
    if args.role == "ours":
        print(
            json.dumps(
                run_ours(
                    args.ws_url,
                    args.rest_url,
                    args.bootstrap,
                    args.prefix,
                    args.symbol,
                    args.updates,
                    args.engine,
                )
            )
        )
    else:
        compare(args.frames, args.rounds, args.engines.split(","), args.warmup)


if __name__ == "__main__":
    main()
