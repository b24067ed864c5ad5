"""Where the session's Kafka, PostgreSQL and Redis run (OBM_TEST_SERVICES): the choice, the Docker
engine probe against fake engines on a unix socket and on TCP, the images taken from Compose, and
testcontainers staying optional. No Docker engine runs on the project's machines, so the
containers themselves are not started here."""

from __future__ import annotations

import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from container_services import _module, choose_test_services, compose_images, docker_reachable

from config.settings import REPO_ROOT

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("setting", "engine_answers", "chosen"),
    [
        ("local", True, "local"),
        ("local", False, "local"),
        ("auto", True, "containers"),
        ("auto", False, "local"),
        ("containers", True, "containers"),
    ],
)
def test_the_setting_and_the_engine_choose_where_services_run(setting, engine_answers, chosen):
    assert choose_test_services(setting, lambda: engine_answers) == chosen


def test_containers_without_an_engine_is_an_error_not_a_quiet_fallback(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere/docker.sock")
    with pytest.raises(RuntimeError, match="no Docker engine answers at unix:///nowhere/docker.sock"):
        choose_test_services("containers", lambda: False)
    with pytest.raises(ValueError, match="local, containers or auto"):
        choose_test_services("docker", lambda: True)


def _handler(reply: bytes) -> type[socketserver.BaseRequestHandler]:
    class Reply(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(4096)
            self.request.sendall(reply)

    return Reply


@contextmanager
def _serving(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


PONG = b"HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n\r\nOK"


def test_the_engine_probe_pings_a_unix_socket_or_tcp(tmp_path: Path):
    path = tmp_path / "docker.sock"
    with _serving(socketserver.UnixStreamServer(str(path), _handler(PONG))):
        assert docker_reachable(f"unix://{path}")
    not_docker = tmp_path / "other.sock"
    with _serving(socketserver.UnixStreamServer(str(not_docker), _handler(b"SSH-2.0-OpenSSH\r\n"))):
        assert not docker_reachable(f"unix://{not_docker}")
    with _serving(socketserver.TCPServer(("127.0.0.1", 0), _handler(PONG))) as server:
        port = server.server_address[1]
        assert docker_reachable(f"tcp://127.0.0.1:{port}")
    assert not docker_reachable(f"unix://{tmp_path / 'absent.sock'}")
    assert not docker_reachable(f"tcp://127.0.0.1:{port}", timeout_s=0.5)  # closed now
    assert not docker_reachable("ssh://someone@somewhere")


def test_container_images_are_the_ones_compose_runs():
    services = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    images = compose_images()
    assert {k: images[k] for k in ("redpanda", "timescaledb", "redis")} == {
        k: services[k]["image"] for k in ("redpanda", "timescaledb", "redis")
    }
    assert images["postgres"] == f"postgres:{images['timescaledb'].rsplit('-pg', 1)[1]}"


def test_testcontainers_is_imported_only_when_a_container_starts(monkeypatch, tmp_path: Path):
    (tmp_path / "testcontainers").mkdir()  # an importable stand-in: does importing the module load it?
    (tmp_path / "testcontainers" / "__init__.py").write_text("")
    code = "import sys, container_services; print('testcontainers' in sys.modules)"
    env = {"PYTHONPATH": f"{tmp_path}:{REPO_ROOT / 'tests'}:{REPO_ROOT}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    monkeypatch.setitem(sys.modules, "testcontainers", None)  # not installed
    with pytest.raises(RuntimeError, match="pip install 'testcontainers"):
        _module("kafka")
