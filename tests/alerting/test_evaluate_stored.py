"""`obm alerts evaluate --from/--to` on stored history: processed records written to a real
PostgreSQL's orderbook_metrics (the sink's table) give the same report as the same records
evaluated straight from the capture they came from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from alerting.test_evaluate_tool import crafted_books, write_capture
from click.testing import CliRunner

from config import AlertSettings, PostgresSettings
from obm.alerts.books import capture_records
from obm.alerts.evaluation import evaluate
from obm.alerts.features import processed_records
from obm.alerts.stored import COLUMNS
from obm.cli import main

pytestmark = pytest.mark.integration


def test_stored_range_evaluates_like_the_capture(pg_settings: PostgresSettings, tmp_path: Path) -> None:
    write_capture(tmp_path / "crafted.txt.gz", crafted_books())
    records = processed_records(capture_records(tmp_path / "crafted.txt.gz"))
    columns = [*dict.fromkeys(COLUMNS), "receive_time_ns", "ts"]
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        conn.execute("DELETE FROM orderbook_metrics WHERE symbol = 'TESTUSDT'")
        with conn.cursor().copy(f"COPY orderbook_metrics ({', '.join(columns)}) FROM STDIN") as copy:
            for r in records:
                ts = datetime.fromtimestamp(r["event_time"] / 1000, tz=UTC)
                copy.write_row([r.get(c) for c in columns[:-2]] + [r["event_time"] * 1_000_000, ts])
    env = {"OBM_PG_HOST": pg_settings.host, "OBM_PG_PORT": str(pg_settings.port), "OBM_PG_USER": pg_settings.user,
           "OBM_PG_PASSWORD": pg_settings.password.get_secret_value(), "OBM_PG_DATABASE": pg_settings.database}  # fmt: skip
    out = tmp_path / "stored.json"
    first, last = records[0]["event_time"], records[-1]["event_time"]
    window = [
        datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
        for ms in (first, last + 1_000)
    ]
    args = ["alerts", "evaluate", "--from", window[0], "--to", window[1], "--symbol", "TESTUSDT"]
    result = CliRunner().invoke(main, [*args, "--profile", "seed", "--json", str(out)], env=env)
    assert result.exit_code == 0, result.output
    stored = json.loads(out.read_text())
    direct = json.loads(json.dumps([r.as_dict() for r in evaluate(records, AlertSettings(), "seed")]))
    assert stored == direct and stored[0]["updates"] == len(records) == 900
    assert sum(rule["alerts"] for rule in stored[0]["rules"].values()) > 10
