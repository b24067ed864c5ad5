"""Session fixtures that start the real services of the embedded stack on free ports, through the
same code as `obm up` (obm/stack/). Each service starts only when a test asks for it, once per
session, and is stopped at the end of the session. With OBM_TEST_SERVICES=containers (or auto,
where a Docker engine answers) Kafka, PostgreSQL and Redis run as containers instead
(tests/container_services.py); Flink always runs locally.

PostgreSQL comes in two kinds: plain (the default of every test) and TimescaleDB (what Compose runs,
and the embedded stack where it is installed); the tests named in pg_kinds.TIMESCALEDB_LEG run on
both."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from container_services import ContainerKafka, ContainerPostgres, ContainerRedis, choose_test_services
from pg_kinds import PLAIN, TIMESCALEDB, on_timescaledb_leg, require_timescaledb

from config import FlinkSettings, KafkaSettings, PostgresSettings, RedisSettings, StackSettings
from obm.stack.flink_cluster import FlinkCluster
from obm.stack.health import free_port
from obm.stack.kafka_broker import KafkaBroker
from obm.stack.postgres_server import PostgresServer
from obm.stack.redis_server import RedisServer

REPO_ROOT = Path(__file__).resolve().parent.parent
CAPTURE = REPO_ROOT.parent / "shared" / "data" / "binance-spot-ethusdt-20240808.txt.gz"


@pytest.fixture(scope="session")
def stack_settings() -> Iterator[StackSettings]:
    """A state folder of the session's own (kept on failure when OBM_KEEP_TEST_STATE=1)."""
    state = Path(tempfile.mkdtemp(prefix="obm-test-"))
    state.chmod(0o755)  # the PostgreSQL server user must traverse it when tests run as root
    yield StackSettings(state_dir=state, start_timeout_s=180)
    if os.environ.get("OBM_KEEP_TEST_STATE") != "1":
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def in_containers(stack_settings: StackSettings) -> bool:
    """Whether Kafka, PostgreSQL and Redis run as containers (StackSettings.test_services)."""
    return choose_test_services(stack_settings.test_services) == "containers"


@pytest.fixture(scope="session")
def kafka_broker(
    stack_settings: StackSettings, in_containers: bool
) -> Iterator[KafkaBroker | ContainerKafka]:
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}", controller_port=free_port(), partitions=3
    )
    broker = ContainerKafka(settings) if in_containers else KafkaBroker(settings, stack_settings)
    broker.start()
    broker.ensure_topics()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_settings(kafka_broker: KafkaBroker) -> KafkaSettings:
    return kafka_broker.settings


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "pg_server" in metafunc.fixturenames and on_timescaledb_leg(metafunc.definition.nodeid):
        metafunc.parametrize("pg_server", [PLAIN, TIMESCALEDB], indirect=True, scope="session")


def _pg_server(server: PostgresServer | ContainerPostgres) -> Iterator[PostgresServer | ContainerPostgres]:
    server.start()
    yield server
    server.stop()
    if isinstance(server, ContainerPostgres):
        server.remove()


@pytest.fixture(scope="session")
def plain_pg_server(
    stack_settings: StackSettings, in_containers: bool
) -> Iterator[PostgresServer | ContainerPostgres]:
    settings = PostgresSettings(port=free_port(), timescaledb="off")
    yield from _pg_server(
        ContainerPostgres(settings)
        if in_containers
        else PostgresServer(settings, stack_settings, durable=False)
    )


@pytest.fixture(scope="session")
def timescaledb_server(
    stack_settings: StackSettings, in_containers: bool
) -> Iterator[PostgresServer | ContainerPostgres]:
    """TimescaleDB (required: the server refuses to start without it), its policies run by the
    tests themselves (CALL run_job) rather than by background jobs at moments of their own."""
    settings = PostgresSettings(port=free_port(), timescaledb="on")
    if in_containers:
        yield from _pg_server(ContainerPostgres(settings, background_jobs=False))
        return
    stack = stack_settings.model_copy(update={"state_dir": stack_settings.state_dir / TIMESCALEDB})
    yield from _pg_server(PostgresServer(settings, stack, durable=False, background_jobs=False))


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> PostgresServer:
    """Plain PostgreSQL; for the tests of TIMESCALEDB_LEG, each of the two kinds in turn."""
    if getattr(request, "param", PLAIN) == TIMESCALEDB:
        server: PostgresServer = request.getfixturevalue("timescaledb_server")
        require_timescaledb(server.settings)
        return server
    return request.getfixturevalue("plain_pg_server")


@pytest.fixture(scope="session")
def pg_settings(pg_server: PostgresServer) -> PostgresSettings:
    return pg_server.settings


@pytest.fixture(scope="session")
def redis_server(
    stack_settings: StackSettings, in_containers: bool
) -> Iterator[RedisServer | ContainerRedis]:
    settings = RedisSettings(port=free_port())
    server = (
        ContainerRedis(settings) if in_containers else RedisServer(settings, stack_settings, persistent=False)
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_settings(redis_server: RedisServer) -> RedisSettings:
    return redis_server.settings


@pytest.fixture(scope="session")
def flink_cluster(stack_settings: StackSettings) -> Iterator[FlinkCluster]:
    settings = FlinkSettings(
        jobmanager=f"127.0.0.1:{free_port()}", rpc_port=free_port(), checkpoint_interval_ms=2_000
    )
    cluster = FlinkCluster(settings, stack_settings)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def flink_settings(flink_cluster: FlinkCluster) -> FlinkSettings:
    return flink_cluster.settings


@pytest.fixture(scope="session")
def capture_path() -> Path:
    if not CAPTURE.exists():
        pytest.fail(f"the Binance capture is missing at {CAPTURE} (shared/data beside the repo)")
    return CAPTURE
