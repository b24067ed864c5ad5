# syntax=docker/dockerfile:1.7
# The application image: producer, simulator, sinks and dashboard (one image, one command each).
# Build context: the repository root (docker-compose.yml sets it); app.Dockerfile.dockerignore
# keeps the context to the files copied below.
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
RUN pip install .

# init-db.sql travels with the image so a one-off `psql -f init-db.sql` needs no bind mount.
COPY init-db.sql ./

USER obm
# No default command: every service in docker-compose.yml names its own.
