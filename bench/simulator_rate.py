"""How many book updates a second the market simulator delivers on this machine, and the CPU it
spends per update (issue 21: can the live bench offer the 15,000 updates/s of issue 18?).

The simulator runs alone (`python -m producer.simulator`, its model source, on a free port) at
each rate of --rates per symbol for --symbols symbols; one WebSocket client of this process takes
every symbol's diff stream (`<symbol>@depth@100ms`, as the producer does) and counts the frames
over --seconds after --warmup-s. The simulator steps every symbol `rate` times a second and never
bursts to catch up when it falls behind (producer/simulator/model_source.py), so what it cannot
deliver is lost, not late: delivered / offered is its headroom. CPU is the simulator process's
(/proc, utime + stime) over the same seconds.

    .venv/bin/python -m bench.simulator_rate --symbols 150 --rates 10,50,100 --seconds 30
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.pipeline import symbols_of
from obm.stack.health import free_port

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def measure(symbols: list[str], rate: float, warmup_s: float, seconds: float) -> dict[str, float]:
    from websockets.sync.client import connect

    port = free_port()
    sim = subprocess.Popen(
        [sys.executable, "-m", "producer.simulator", "--port", str(port), "--symbols", ",".join(symbols),
         "--updates-per-second", str(rate), "--log-level", "WARNING"],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        streams = "/".join(f"{s.lower()}@depth@100ms" for s in symbols)
        deadline = time.monotonic() + 60
        while True:
            try:
                ws = connect(f"ws://127.0.0.1:{port}/stream?streams={streams}", max_size=None, open_timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline or sim.poll() is not None:
                    raise
                time.sleep(0.2)
        with ws:
            end_warmup = time.monotonic() + warmup_s
            while time.monotonic() < end_warmup:
                ws.recv(timeout=5)
            frames, t0, sim0, own0 = 0, time.monotonic(), cpu_s(sim.pid), time.process_time()
            while time.monotonic() - t0 < seconds:
                ws.recv(timeout=5)
                frames += 1
            wall, sim_cpu = time.monotonic() - t0, cpu_s(sim.pid) - sim0
            own_cpu = time.process_time() - own0
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    delivered = frames / wall
    return {
        "rate_per_symbol": rate,
        "offered_per_s": rate * len(symbols),
        "delivered_per_s": round(delivered),
        "simulator_cores": round(sim_cpu / wall, 2),
        "simulator_us_per_update": round(sim_cpu / frames * 1e6, 1) if frames else float("nan"),
        "client_cores": round(own_cpu / wall, 2),
        "load_average_1m": round(os.getloadavg()[0], 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator_rate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--symbols", type=int, default=150)
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[10.0, 50.0, 100.0]
    )
    parser.add_argument("--warmup-s", type=float, default=5)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}", flush=True)
    for rate in args.rates:
        print(measure(symbols_of(args.symbols), rate, args.warmup_s, args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
