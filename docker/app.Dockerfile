# syntax=docker/dockerfile:1.7
# The application image: producer, simulator, sinks and dashboard (one image, one command each).
# Build context: the repository root (docker-compose.yml sets it); app.Dockerfile.dockerignore
# keeps the context to the files copied below.

# The producer's compiled hot path (producer/native, Rust + PyO3) is built into a wheel in a
# throw-away stage, so the runtime image carries neither the Rust toolchain nor a compiler.
FROM rust:1.91.1-slim-bookworm AS rust
FROM python:3.11.13-slim-bookworm AS native
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:$PATH
COPY --from=rust /usr/local/rustup /usr/local/rustup
COPY --from=rust /usr/local/cargo /usr/local/cargo
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* && pip install --no-cache-dir 'maturin>=1.5,<2'
COPY producer/native/ /src/native/
RUN maturin build --release -i python3.11 -m /src/native/Cargo.toml -o /wheels

FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 obm
WORKDIR /app

# Dependencies first (their layer survives code edits), then the code itself.
COPY pyproject.toml ./
COPY config/ config/
COPY schemas/ schemas/
COPY obm/ obm/
COPY producer/ producer/
COPY flink_jobs/ flink_jobs/
COPY sinks/ sinks/
COPY dashboard/ dashboard/
COPY gateway/ gateway/
COPY notify/ notify/
COPY rules/ rules/
RUN pip install .
COPY --from=native /wheels/ /tmp/wheels/
RUN pip install /tmp/wheels/obm_book_native-*.whl && rm -rf /tmp/wheels

# init-db.sql travels with the image so a one-off `psql -f init-db.sql` needs no bind mount.
COPY init-db.sql ./

USER obm
# No default command: every service in docker-compose.yml names its own.
