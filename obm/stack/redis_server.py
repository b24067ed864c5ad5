"""A Redis server on loopback, with its data (AOF) under the state folder."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import redis

from config import RedisSettings, StackSettings
from config.clients import redis_client
from obm.stack.health import StartupFailed, wait_until
from obm.stack.process import ManagedProcess


@dataclass
class RedisServer:
    settings: RedisSettings
    stack: StackSettings
    persistent: bool = True

    name = "redis"

    @property
    def detail(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def home(self) -> Path:
        return self.stack.state_dir / "redis"

    def process(self) -> ManagedProcess:
        binary = shutil.which("redis-server")
        if not binary:
            raise StartupFailed("redis-server not found: run scripts/bootstrap.sh")
        s = self.settings
        argv = [
            binary,
            "--bind", s.host,
            "--port", str(s.port),
            "--dir", str(self.home),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip
        if s.password is not None:
            argv += ["--requirepass", s.password.get_secret_value()]
        return ManagedProcess(name="redis", argv=argv, run_dir=self.stack.state_dir)

    def client(self) -> redis.Redis:
        return redis_client(self.settings, timeout_s=2)

    def healthy(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        proc = self.process()
        if not proc.running():
            proc.start()
        wait_until(
            "redis",
            self.healthy,
            timeout_s=self.stack.start_timeout_s,
            alive=proc.running,
            log_tail=proc.log_tail,
        )

    def stop(self) -> None:
        self.process().stop(timeout_s=20)
