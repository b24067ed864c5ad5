#!/usr/bin/env bash
# Idempotent setup of everything the project needs on a fresh Debian machine:
#   system packages (Java 17, Maven, PostgreSQL, Redis; Chromium for the browser tests),
#   the virtual environment .venv with the Python dependencies,
#   the producer's compiled hot path (producer/native, Rust) where cargo is installed (without it
#     the producer runs its Python engine, and this says so),
#   TimescaleDB, built from its source in OBM_VENDOR_DIR (../shared/vendor) when PostgreSQL lacks it
#     (without the source the stack runs plain PostgreSQL, and this says so),
#   the JVM artifacts declared in scripts/jars/pom.xml, fetched into .cache/jars,
#   and the project's Java Flink functions (flink_jobs/java), built into .cache/jars/flink.
# Each step is skipped when its result is already there, so `make run` and `make test` can
# both call it every time.
#
# Usage: scripts/bootstrap.sh [run|test]     (test also installs the browser-test packages)
set -euo pipefail
cd "$(dirname "$0")/.."
purpose="${1:-run}"

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# --- system packages ---------------------------------------------------------------------------
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql postgresql-contrib)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ "$purpose" = "test" ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts the packaged services; the project runs its own instances on its own state.
  for svc in redis-server postgresql; do
    $SUDO service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# --- Python virtual environment ----------------------------------------------------------------
PY="${OBM_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  log "creating .venv and installing Python dependencies (first run takes a few minutes)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The settings this script honours (config/settings/; the environment and .env as everywhere).
read -r producer_engine pg_timescaledb vendor_dir < <(.venv/bin/python -c '
from config import PostgresSettings, ProducerSettings, StackSettings
print(ProducerSettings().engine, PostgresSettings().timescaledb, StackSettings().vendor_dir)')

# --- the producer's compiled hot path (Rust, PyO3), rebuilt when its sources change -------------
# Built wherever cargo is; without it the producer runs its Python engine (OBM_PRODUCER_ENGINE=auto).
# The marker records which it was, so the tests can tell "no toolchain here" (the native tests
# cannot run) from a build that went missing (they fail).
native_marker=.venv/.obm-native-engine
# every Rust source, submodules (src/book/py.rs) included, in a fixed order
nstamp=".venv/.native-$(cat producer/native/Cargo.toml producer/native/Cargo.lock producer/native/pyproject.toml \
  $(find producer/native/src -name '*.rs' | LC_ALL=C sort) | sha256sum | cut -c1-16)"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
if [ -f "$nstamp" ]; then
  echo built > "$native_marker"
elif command -v cargo >/dev/null 2>&1; then
  log "building the producer's native hot path (producer/native, cargo release build)"
  .venv/bin/python -m pip install -q 'maturin>=1.5,<2'
  rm -rf producer/native/target/wheels
  .venv/bin/maturin build -q --release -i .venv/bin/python -m producer/native/Cargo.toml -o producer/native/target/wheels
  .venv/bin/python -m pip install -q --force-reinstall --no-deps producer/native/target/wheels/obm_book_native-*.whl
  rm -f .venv/.native-*
  touch "$nstamp"
  echo built > "$native_marker"
else
  # A module built from older sources must not run in their place.
  .venv/bin/python -m pip uninstall -q -y obm_book_native >/dev/null 2>&1 || true
  echo "no Rust toolchain" > "$native_marker"
  if [ "$producer_engine" = native ]; then
    echo "bootstrap: OBM_PRODUCER_ENGINE=native needs cargo (Rust) to build producer/native; install it with rustup (https://rustup.rs)" >&2
    exit 1
  fi
  log "no Rust toolchain (cargo): the producer runs its Python engine; install Rust (https://rustup.rs) and run this again for the compiled hot path"
fi

# --- TimescaleDB, built from the vendored source when PostgreSQL lacks it ----------------------
# Debian has no TimescaleDB package. Built in a temporary folder, installed into PostgreSQL's own
# directories; skipped when installed (its control file is there). The build headers are pinned to
# the installed server's version, so nothing that runs is upgraded underneath.
pgbin=$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_config | sort -t/ -k5 -n | tail -1)")
pgmajor=$(basename "$(dirname "$pgbin")")
if [ "$pg_timescaledb" != off ] && [ ! -f "$("$pgbin/pg_config" --sharedir)/extension/timescaledb.control" ]; then
  tsdb_src=$(ls "$vendor_dir"/timescaledb-*.tar.gz 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$tsdb_src" ]; then
    if [ "$pg_timescaledb" = on ]; then
      echo "bootstrap: OBM_PG_TIMESCALEDB=on, but TimescaleDB is not installed and $vendor_dir has no timescaledb-*.tar.gz" >&2
      exit 1
    fi
    log "TimescaleDB: not installed and no source in $vendor_dir: the embedded stack runs plain PostgreSQL"
  else
    log "building TimescaleDB from $tsdb_src (takes a few minutes; OBM_PG_TIMESCALEDB=off skips it)"
    tsdb_pkgs=()
    command -v cmake >/dev/null 2>&1 || tsdb_pkgs+=(cmake)
    dpkg -s libssl-dev >/dev/null 2>&1 || tsdb_pkgs+=(libssl-dev)
    if ! dpkg -s "postgresql-server-dev-$pgmajor" >/dev/null 2>&1; then
      pgversion=$(dpkg-query -W -f='${Version}' "postgresql-$pgmajor" 2>/dev/null || true)
      tsdb_pkgs+=("postgresql-server-dev-$pgmajor${pgversion:+=$pgversion}")
    fi
    if [ ${#tsdb_pkgs[@]} -gt 0 ]; then
      export DEBIAN_FRONTEND=noninteractive
      $SUDO apt-get update -qq
      $SUDO apt-get install -y -qq --no-install-recommends "${tsdb_pkgs[@]}" >/dev/null
    fi
    tsdb_tmp=$(mktemp -d)
    trap 'rm -rf "$tsdb_tmp"' EXIT
    if ! (
      tar -xzf "$tsdb_src" -C "$tsdb_tmp" && cd "$tsdb_tmp"/timescaledb-* &&
        ./bootstrap -DPG_CONFIG="$pgbin/pg_config" -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
          -DLINTER=OFF -DCMAKE_BUILD_TYPE=Release -DGENERATE_DOWNGRADE_SCRIPT=OFF &&
        cd build && make -j"$(nproc)" && $SUDO make install
    ) >"$tsdb_tmp/build.log" 2>&1; then
      tail -n 30 "$tsdb_tmp/build.log" >&2
      echo "bootstrap: building TimescaleDB failed (above); OBM_PG_TIMESCALEDB=off runs plain PostgreSQL without it" >&2
      exit 1
    fi
    log "TimescaleDB installed into PostgreSQL $pgmajor: the embedded stack preloads it"
  fi
fi

# --- JVM artifacts from Maven Central ----------------------------------------------------------
jstamp=".cache/jars/.fetched-$(sha256sum scripts/jars/pom.xml | cut -c1-16)"
if [ ! -f "$jstamp" ]; then
  log "fetching JVM artifacts (Kafka broker, Flink connectors) from Maven Central"
  rm -rf .cache/jars
  mvn -f scripts/jars/pom.xml -q -B package
  touch "$jstamp"
fi
# Rebuilt when its sources change (after the fetch above, which empties .cache/jars).
fsum=$(find flink_jobs/java/pom.xml flink_jobs/java/src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
fstamp=".cache/jars/.functions-$fsum"
if [ ! -f "$fstamp" ] || [ ! -f .cache/jars/flink/obm-flink-functions.jar ]; then
  log "building the Java Flink functions (flink_jobs/java)"
  rm -f .cache/jars/.functions-*
  mvn -f flink_jobs/java/pom.xml -q -B package -DskipTests
  touch "$fstamp"
fi
log "ready"
