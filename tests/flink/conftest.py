"""One local PyFlink TableEnvironment for the whole Flink test session (a local environment
takes ~10 s to start), and a helper that runs a job's logic on a bounded JSON-lines input.

The jobs reject records older than their topic's retention (ContractSettings.max_age_ms), and
most of these tests replay data of 2024 (the capture, and sequences dated like it): the session
sets an age bound that covers it (HISTORICAL_MAX_AGE_MS), module by module. Tests of the bound itself set theirs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pyflink.table import Table, TableEnvironment

from config import FlinkSettings
from flink_jobs.connectors import ROWTIME, file_source_ddl
from flink_jobs.environment import table_environment
from flink_jobs.sql_building import query
from schemas import Topic
from tests.flink.nested_rows import fold, leaves

# The age bound of this session's jobs: 20 years, so records dated 2024 are not "too old".
HISTORICAL_MAX_AGE_MS = 20 * 365 * 86_400_000
CONTRACT_MAX_AGE_ENV = "OBM_CONTRACT_MAX_AGE_MS"


@pytest.fixture(scope="module", autouse=True)
def historical_event_times() -> Iterator[None]:
    """Jobs submitted by these tests accept event times of 2024 (JobSpec reads the
    ContractSettings of the environment when it is made). Module scope: the variable is restored
    after each module, so tests outside tests/flink keep the default bound."""
    before = os.environ.get(CONTRACT_MAX_AGE_ENV)
    os.environ[CONTRACT_MAX_AGE_ENV] = str(HISTORICAL_MAX_AGE_MS)
    yield
    if before is None:
        os.environ.pop(CONTRACT_MAX_AGE_ENV, None)
    else:
        os.environ[CONTRACT_MAX_AGE_ENV] = before


# Bounded runs: no checkpoints (the collect sink would hold results back until one completes).
BOUNDED_FLINK = FlinkSettings(checkpoint_interval_ms=0, watermark_out_of_orderness_ms=2_000)

BoundedRun = Callable[[Topic, list[dict[str, Any]], Callable[[Table], Table]], list[dict[str, Any]]]


@pytest.fixture(scope="session")
def local_table_env() -> TableEnvironment:
    return table_environment(BOUNDED_FLINK, name="obm-bounded-tests", parallelism=1, with_kafka=False)


def collect_rows(table: Table) -> list[dict[str, Any]]:
    """All rows of a bounded table as dicts, without the time attribute (not picklable)."""
    from pyflink.table.expressions import col

    names = [n for n in table.get_schema().get_field_names() if n != ROWTIME]
    schema = table._j_table.getResolvedSchema()  # the Java type strings: "ROW<`a` DOUBLE, ...>"
    java_types = dict(zip(schema.getColumnNames(), map(str, schema.getColumnDataTypes()), strict=True))
    if any(java_types[n].startswith("ROW<") for n in names):  # a nested row as a dict (nested_rows.py)
        sql_types = [java_types[n] for n in names]
        exprs = [e for n, t in zip(names, sql_types, strict=True) for e in leaves(f"`{n}`", t)]
        with query(table, f"SELECT {', '.join(exprs)} FROM {{src}}").execute().collect() as results:
            return [dict(zip(names, fold(list(row), sql_types), strict=True)) for row in results]
    projected = table.select(*[col(n) for n in names])
    with projected.execute().collect() as results:
        return [dict(zip(names, row, strict=True)) for row in results]


@pytest.fixture
def run_bounded(local_table_env: TableEnvironment, tmp_path: Path) -> BoundedRun:
    """run(topic of the input, input records, logic) -> output rows."""

    def run(
        topic: Topic, records: list[dict[str, Any]], logic: Callable[[Table], Table]
    ) -> list[dict[str, Any]]:
        return run_bounded_in(local_table_env, tmp_path / f"in-{uuid.uuid4().hex[:8]}", topic, records, logic)

    return run


def run_bounded_in(
    t_env: TableEnvironment,
    folder: Path,
    topic: Topic,
    records: list[dict[str, Any]],
    logic: Callable[[Table], Table],
    *,
    watermark_each_record: bool = False,
) -> list[dict[str, Any]]:
    """Write `records` as JSON lines under `folder`, read them as `topic`, apply `logic`, collect."""
    folder.mkdir(parents=True)
    (folder / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in records))
    name = f"src_{uuid.uuid4().hex[:8]}"
    t_env.execute_sql(
        file_source_ddl(name, topic, folder, flink=BOUNDED_FLINK, watermark_each_record=watermark_each_record)
    )
    return collect_rows(logic(t_env.from_path(name)))
