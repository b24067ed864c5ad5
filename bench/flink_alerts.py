"""Cost of the alerts job, and of its Python cooldown in particular, on bounded inputs in a local
mini-cluster at parallelism 1: the detection alone (SQL: OVER windows and MATCH_RECOGNIZE, up to
the candidate stream) against the whole job (plus the keyed Python cooldown and the alert
records). Each is timed on two input sizes and the rate is the difference (records / seconds),
which takes job start-up out. Inputs: orderbook.processed walks of many symbols, one update per
100 ms each, crossing every threshold now and then.
Run: .venv/bin/python -m bench.flink_alerts"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from bench.flink_harness import load_average, symbols
from config import AlertSettings, FlinkSettings
from flink_jobs.alert_patterns import candidates_table
from flink_jobs.alerts import alerts_table
from flink_jobs.connectors import ROWTIME, file_source_ddl
from flink_jobs.environment import stream_table_environment
from schemas import Topic

BOUNDED = FlinkSettings(checkpoint_interval_ms=0)


def write_processed(folder: Path, count: int, n_symbols: int, seed: int = 5) -> None:
    rng = random.Random(seed)
    names = symbols(n_symbols)
    imb = dict.fromkeys(names, 0.0)
    start = 1_723_161_240_000
    folder.mkdir(parents=True)
    with (folder / "part-0.json").open("w") as out:
        for k in range(count):
            s = names[k % n_symbols]
            t = start + (k // n_symbols) * 100 + (k % n_symbols) * 100 // n_symbols
            imb[s] = max(-1.0, min(1.0, 0.95 * imb[s] + rng.gauss(0, 0.12)))
            spread = 2.0 * (3.0 if rng.random() < 0.003 else 1.0)
            rec = {
                "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": s, "event_time": t,
                "receive_time_ns": t * 1_000_000, "sequence_id": k, "imbalance_5": round(imb[s], 4),
                "imbalance_velocity": rng.choice([None, 0.0, 0.01, 0.02, 0.08]), "spread_bps": spread,
                "spread_bps_mean": 2.05,
            }  # fmt: skip
            out.write(json.dumps(rec) + "\n")


def timed_run(logic, folder: Path) -> tuple[float, int]:
    """Seconds to run `logic` over the folder to the end, and the rows it produced."""
    t_env = stream_table_environment(BOUNDED, name="bench-alerts", parallelism=1, with_kafka=False)
    name = f"src_{uuid.uuid4().hex[:8]}"
    t_env.execute_sql(file_source_ddl(name, Topic.PROCESSED, folder, flink=BOUNDED))
    table = logic(t_env.from_path(name))
    names = [n for n in table.get_schema().get_field_names() if n != ROWTIME]
    from pyflink.table.expressions import col

    started = time.monotonic()
    with table.select(*[col(n) for n in names]).execute().collect() as rows:
        produced = sum(1 for _ in rows)
    return time.monotonic() - started, produced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--large", type=int, default=250_000)
    parser.add_argument("--symbols", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="obm-bench-alerts-"))
    settings = AlertSettings()
    try:
        sizes = {"small": args.small, "large": args.large}
        for label, count in sizes.items():
            write_processed(work / label, count, args.symbols)
        variants = {
            "detection (SQL)": lambda t: candidates_table(t, settings),
            "whole job (SQL + Python cooldown)": lambda t: alerts_table(t, settings),
        }
        timed_run(variants["whole job (SQL + Python cooldown)"], work / "small")  # JVM and Python warm-up
        for variant, logic in variants.items():
            (t_small, _), (t_large, out_large) = (timed_run(logic, work / label) for label in sizes)
            rate = (args.large - args.small) / (t_large - t_small) if t_large > t_small else float("inf")
            print(
                f"{variant}: {rate:,.0f} updates/s marginal ({args.small:,} in {t_small:.1f} s, {args.large:,} in"
                f" {t_large:.1f} s; {out_large:,} rows out of the large run); {load_average()}",
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
