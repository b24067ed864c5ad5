#!/usr/bin/env bash
# Idempotent setup of everything the project needs on a fresh Debian machine:
#   system packages (Java 17, Maven, PostgreSQL, Redis; Chromium for the browser tests),
#   the virtual environment .venv with the Python dependencies,
#   the producer's compiled hot path (producer/native, Rust: needs cargo),
#   the JVM artifacts declared in jvm/pom.xml, fetched into .cache/jars,
#   and the project's Java Flink functions (jvm/flink-functions), built into .cache/jars/flink.
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

# --- the producer's compiled hot path (Rust, PyO3), rebuilt when its sources change -------------
nstamp=".venv/.native-$(cat producer/native/Cargo.toml producer/native/Cargo.lock producer/native/pyproject.toml \
  producer/native/src/*.rs | sha256sum | cut -c1-16)"
if [ ! -f "$nstamp" ]; then
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "bootstrap: cargo (Rust) is required to build producer/native; install it with rustup (https://rustup.rs)" >&2
    exit 1
  fi
  log "building the producer's native hot path (producer/native, cargo release build)"
  .venv/bin/python -m pip install -q 'maturin>=1.5,<2'
  rm -rf producer/native/target/wheels
  .venv/bin/maturin build -q --release -i .venv/bin/python -m producer/native/Cargo.toml -o producer/native/target/wheels
  .venv/bin/python -m pip install -q --force-reinstall --no-deps producer/native/target/wheels/obm_book_native-*.whl
  rm -f .venv/.native-*
  touch "$nstamp"
fi

# --- JVM artifacts from Maven Central ----------------------------------------------------------
jstamp=".cache/jars/.fetched-$(sha256sum jvm/pom.xml | cut -c1-16)"
if [ ! -f "$jstamp" ]; then
  log "fetching JVM artifacts (Kafka broker, Flink connectors) from Maven Central"
  rm -rf .cache/jars
  mvn -f jvm/pom.xml -q -B package
  touch "$jstamp"
fi
# Rebuilt when its sources change (after the fetch above, which empties .cache/jars).
fsum=$(find jvm/flink-functions/pom.xml jvm/flink-functions/src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
fstamp=".cache/jars/.functions-$fsum"
if [ ! -f "$fstamp" ] || [ ! -f .cache/jars/flink/obm-flink-functions.jar ]; then
  log "building the Java Flink functions (jvm/flink-functions)"
  rm -f .cache/jars/.functions-*
  mvn -f jvm/flink-functions/pom.xml -q -B package
  touch "$fstamp"
fi
log "ready"
