"""The test session's Kafka, PostgreSQL and Redis as containers (Redpanda, TimescaleDB and Redis, the
images Compose runs; plain PostgreSQL from the official image of the same major version) where a
Docker engine is reachable and StackSettings.test_services asks for it. The local processes of
obm/stack stay the default. These classes answer the same calls the tests make of the local
servers (settings, start, stop, healthy, ensure_topics, apply_init_sql, provision, client);
testcontainers is imported only when a container starts, so it stays an optional package."""

from __future__ import annotations

import importlib
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import psycopg
import redis
import yaml

from config import KafkaSettings, PostgresSettings, RedisSettings
from config.settings import REPO_ROOT
from obm.stack.health import free_port, wait_until
from obm.stack.postgres_server import INIT_DB_SQL

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def docker_reachable(docker_host: str | None = None, timeout_s: float = 2.0) -> bool:
    """A Docker engine answers its ping at DOCKER_HOST (unix:// or tcp://; default: the local socket)."""
    host = docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout_s)
            sock.connect(host.removeprefix("unix://"))
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").rstrip("/").rpartition(":")
            sock = socket.create_connection((name, int(port)), timeout=timeout_s)
        else:
            return False
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(4096)
    except (OSError, ValueError):
        return False
    return answer.startswith(b"HTTP/") and answer.split(b"\r\n\r\n", 1)[-1].strip() == b"OK"


def choose_test_services(
    setting: str, reachable: Callable[[], bool] = docker_reachable
) -> Literal["local", "containers"]:
    """local | containers | auto (containers when a Docker engine answers) -> where services run.
    Asking for containers where no engine answers is an error, never a quiet fallback."""
    if setting == "local":
        return "local"
    if setting == "containers":
        if not reachable():
            host = os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
            raise RuntimeError(f"OBM_TEST_SERVICES=containers, but no Docker engine answers at {host}")
        return "containers"
    if setting == "auto":
        return "containers" if reachable() else "local"
    raise ValueError(f"test services must be local, containers or auto, not {setting!r}")


@cache
def compose_images() -> dict[str, str]:
    """The images of Compose's broker, database and cache (docker-compose.yml is their one place),
    and the official PostgreSQL image of the database's major version for the plain leg."""
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    images = {name: services[name]["image"] for name in ("redpanda", "timescaledb", "redis")}
    major = re.search(r"-pg(\d+)$", images["timescaledb"])
    if major is None:
        raise ValueError(f"no PostgreSQL major version in {images['timescaledb']}")
    images["postgres"] = f"postgres:{major.group(1)}"
    return images


def _module(name: str) -> Any:
    """A testcontainers module (4.x: testcontainers.community.X, before 4.13: testcontainers.X)."""
    try:
        return importlib.import_module(f"testcontainers.community.{name}")
    except ImportError:
        try:
            return importlib.import_module(f"testcontainers.{name}")
        except ImportError as exc:
            raise RuntimeError(
                "OBM_TEST_SERVICES=containers needs testcontainers: .venv/bin/pip install 'testcontainers>=4.10'"
            ) from exc


class ContainerKafka:
    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self.container: Any = None

    def start(self) -> None:
        self.container = _module("kafka").RedpandaContainer(compose_images()["redpanda"]).start(timeout=120)
        self.settings = self.settings.model_copy(
            update={"bootstrap_servers": self.container.get_bootstrap_server()}
        )

    def ensure_topics(self) -> None:
        """The project's topics as Compose's topic-init makes them (obm.operator.topic_policy)."""
        from obm.operator.topics_command import create_topics
        from schemas import ALL_TOPICS, topic_name

        names = [topic_name(t, self.settings.topic_prefix) for t in ALL_TOPICS]
        create_topics(self.settings, names, None, {})

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()


class ContainerRedis:
    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.container: Any = None

    def start(self) -> None:
        self.container = _module("redis").RedisContainer(compose_images()["redis"]).start()
        host, port = self.container.get_container_host_ip(), int(self.container.get_exposed_port(6379))
        self.settings = self.settings.model_copy(update={"host": host, "port": port})

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.settings.host, port=self.settings.port, db=self.settings.db)

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()


@dataclass
class ContainerPostgres:
    """TimescaleDB (settings.timescaledb on) or plain PostgreSQL in a container, bound to a fixed
    host port so that stop() and start() (a database outage) keep its address."""

    settings: PostgresSettings
    background_jobs: bool = True
    container: Any = field(default=None, repr=False)

    def timescaledb(self) -> tuple[bool, str]:
        on = self.settings.timescaledb != "off"
        image = compose_images()["timescaledb" if on else "postgres"]
        return on, f"{'TimescaleDB' if on else 'plain PostgreSQL'} (container {image})"

    def start(self) -> None:
        if self.container is not None:  # after stop(): the same container and data
            self.container.get_wrapped_container().start()
        else:
            s = self.settings
            self.settings = s = s.model_copy(update={"host": "127.0.0.1", "port": s.port or free_port()})
            on, _ = self.timescaledb()
            pg = _module("postgres").PostgresContainer(
                compose_images()["timescaledb" if on else "postgres"],
                username=s.user, password=s.password.get_secret_value(), dbname=s.database, driver=None,
            )  # fmt: skip
            pg.with_bind_ports(5432, s.port)
            if on and not self.background_jobs:
                pg.with_command("postgres -c timescaledb.max_background_workers=0")
            self.container = pg.start()
        wait_until("postgres container", self.healthy, timeout_s=120)
        self.provision()

    def healthy(self) -> bool:
        try:
            with psycopg.connect(self.settings.conninfo(), connect_timeout=2) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def provision(self) -> None:
        """The database of the settings (made when missing; the role is the container's superuser,
        as in Compose), then init-db.sql."""
        s = self.settings
        admin = s.model_copy(update={"database": "postgres"})
        with psycopg.connect(admin.conninfo(), autocommit=True) as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", (s.database,)).fetchone():
                conn.execute(psycopg.sql.SQL("create database {}").format(psycopg.sql.Identifier(s.database)))
        self.apply_init_sql()

    def apply_init_sql(self, path: Path = INIT_DB_SQL) -> None:
        with psycopg.connect(self.settings.conninfo(), autocommit=True) as conn:
            conn.execute(path.read_text().encode())

    def stop(self) -> None:
        if self.container is not None:
            self.container.get_wrapped_container().stop()

    def remove(self) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None
