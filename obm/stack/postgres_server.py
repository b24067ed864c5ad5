"""A PostgreSQL cluster created with initdb under the state folder, with init-db.sql applied on
every start (the file is re-runnable). PostgreSQL refuses to run as root, so when `obm` runs as
root the server runs as the `postgres` system user that Debian's package creates.

TimescaleDB, as Compose runs it, when it is installed in this PostgreSQL (scripts/bootstrap.sh
builds it from the vendored source; PostgresSettings.timescaledb chooses): the server preloads it
and init-db.sql, run as the application role, creates it and the hypertables. A database made with
TimescaleDB is refused on a server that does not preload it: its rows live in chunks that plain
PostgreSQL would not see (the tables would read as empty)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg

from config import PostgresSettings, StackSettings
from config.settings import REPO_ROOT
from obm.stack.health import StartupFailed, wait_until
from obm.stack.process import ManagedProcess, user_ids

INIT_DB_SQL = REPO_ROOT / "init-db.sql"


def postgres_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise StartupFailed("PostgreSQL server binaries not found: run scripts/bootstrap.sh")


def timescaledb_version(bindir: Path | None = None) -> str | None:
    """The TimescaleDB version installed in this PostgreSQL (its control file in the server's
    extension directory), or None."""
    pg_config = (bindir or postgres_bindir()) / "pg_config"
    if not pg_config.exists():
        return None
    share = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True, check=True)
    control = Path(share.stdout.strip()) / "extension" / "timescaledb.control"
    if not control.exists():
        return None
    found = re.search(r"default_version\s*=\s*'([^']+)'", control.read_text())
    return found.group(1) if found else "unknown version"


def _run_as() -> str | None:
    return "postgres" if os.geteuid() == 0 else None


def _make_reachable(path: Path, user: str) -> None:
    """Give the server user traversal rights on the folders above its data directory."""
    import pwd

    uid = pwd.getpwnam(user).pw_uid
    gid = pwd.getpwnam(user).pw_gid
    os.chown(path, uid, gid)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
        if parent == Path("/"):
            break


@dataclass
class PostgresServer:
    settings: PostgresSettings
    stack: StackSettings
    # Tests trade durability for speed; the real stack never does.
    durable: bool = True
    # TimescaleDB's policies (compression, retention, aggregate refresh) run in the background.
    # Tests run them by hand (CALL run_job): a retention job must not drop a test's rows, dated
    # in 2024, at a moment of its own choosing.
    background_jobs: bool = True

    name = "postgres"

    def timescaledb(self) -> tuple[bool, str]:
        """(preload TimescaleDB, what the database is in words)."""
        if self.settings.timescaledb == "off":
            return False, "plain PostgreSQL (OBM_PG_TIMESCALEDB=off)"
        version = timescaledb_version()
        if version is None:
            required = " but OBM_PG_TIMESCALEDB=on" if self.settings.timescaledb == "on" else ""
            return (
                False,
                f"plain PostgreSQL (TimescaleDB is not installed{required}: see scripts/bootstrap.sh)",
            )
        return True, f"TimescaleDB {version}"

    @property
    def detail(self) -> str:
        return f"{self.settings.host}:{self.settings.port}/{self.settings.database}, {self.timescaledb()[1]}"

    @property
    def home(self) -> Path:
        return self.stack.state_dir / "postgres"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    def process(self) -> ManagedProcess:
        s = self.settings
        argv = [
            str(postgres_bindir() / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(s.port),
            "-k", str(self.socket_dir),
            "-c", f"listen_addresses={s.host}",
            "-c", "max_connections=200",
            "-c", "shared_buffers=256MB",
            "-c", "max_wal_size=2GB",
        ]  # fmt: skip
        if not self.durable:
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        if self.timescaledb()[0]:
            argv += ["-c", "shared_preload_libraries=timescaledb", "-c", "timescaledb.telemetry_level=off"]
            # Its launcher, a scheduler per database and up to 16 policy jobs at once, besides
            # PostgreSQL's own parallel workers (the default of 8 made jobs wait for a worker).
            argv += ["-c", "max_worker_processes=32"]
            if not self.background_jobs:
                argv += ["-c", "timescaledb.max_background_workers=0"]
        # SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        import signal

        return ManagedProcess(
            name="postgres",
            argv=argv,
            run_dir=self.stack.state_dir,
            user=_run_as(),
            stop_signal=signal.SIGINT,
        )

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        user = _run_as()
        uid, gid, groups = user_ids(user)
        self.home.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if user:
            _make_reachable(self.home, user)
            _make_reachable(self.data_dir, user)
            _make_reachable(self.socket_dir, user)
        out = subprocess.run(
            [
                str(postgres_bindir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        if out.returncode != 0:
            raise StartupFailed(f"initdb failed:\n{out.stdout}\n{out.stderr}")

    def _admin_conninfo(self) -> str:
        return f"host={self.socket_dir} port={self.settings.port} user=postgres dbname=postgres"

    def _can_connect_admin(self) -> bool:
        with psycopg.connect(self._admin_conninfo(), connect_timeout=2) as conn:
            conn.execute("select 1")
        return True

    def provision(self) -> None:
        """The role and the database of the settings (made when missing), then init-db.sql; refuses a
        TimescaleDB database on a server without TimescaleDB, and the reverse when TimescaleDB is on."""
        s = self.settings
        pw = s.password.get_secret_value()
        with psycopg.connect(self._admin_conninfo(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (s.user,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(
                psycopg.sql.SQL(f"{verb} role {{}} with login password {{}}").format(
                    psycopg.sql.Identifier(s.user), psycopg.sql.Literal(pw)
                )
            )
            if not conn.execute("select 1 from pg_database where datname = %s", (s.database,)).fetchone():
                conn.execute(
                    psycopg.sql.SQL("create database {} owner {}").format(
                        psycopg.sql.Identifier(s.database), psycopg.sql.Identifier(s.user)
                    )
                )
        preloaded, flavour = self.timescaledb()
        if not preloaded and self.settings.timescaledb == "on":
            raise StartupFailed(f"OBM_PG_TIMESCALEDB=on, but this is {flavour}")
        if not preloaded and self._has_timescaledb():
            raise StartupFailed(
                f"the database in {self.data_dir} was made with TimescaleDB, and this server is {flavour}: "
                "install TimescaleDB (scripts/bootstrap.sh) and set OBM_PG_TIMESCALEDB=auto, or start "
                "from a new state folder"
            )
        self.apply_init_sql()
        if preloaded and not self._has_timescaledb():
            raise StartupFailed(f"{flavour} is preloaded, yet init-db.sql did not create the extension")

    def _has_timescaledb(self) -> bool:
        """Whether the application database has the extension (asked as the superuser, in a way that
        does not load it)."""
        s = self.settings
        info = f"host={self.socket_dir} port={s.port} user=postgres dbname={s.database}"
        with psycopg.connect(info) as conn:
            return (
                conn.execute("select 1 from pg_extension where extname = 'timescaledb'").fetchone()
                is not None
            )

    def apply_init_sql(self, path: Path = INIT_DB_SQL) -> None:
        """Apply init-db.sql as the application role; ON_ERROR_STOP makes a broken file fail loudly."""
        if not path.exists():
            return
        s = self.settings
        out = subprocess.run(
            [
                str(postgres_bindir().parent / "bin" / "psql")
                if (postgres_bindir() / "psql").exists()
                else "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                s.host,
                "-p",
                str(s.port),
                "-U",
                s.user,
                "-d",
                s.database,
                "-f",
                str(path),
            ],  # fmt: skip
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": s.password.get_secret_value()},
        )
        if out.returncode != 0:
            raise StartupFailed(f"{path.name} failed:\n{out.stdout}\n{out.stderr}")

    def start(self) -> None:
        self._initdb()
        proc = self.process()
        if not proc.running():
            self.socket_dir.mkdir(parents=True, exist_ok=True)
            proc.start()
        wait_until(
            "postgres",
            self._can_connect_admin,
            timeout_s=self.stack.start_timeout_s,
            alive=proc.running,
            log_tail=proc.log_tail,
        )
        self.provision()

    def healthy(self) -> bool:
        try:
            with psycopg.connect(self.settings.conninfo(), connect_timeout=2) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        self.process().stop(timeout_s=60)
