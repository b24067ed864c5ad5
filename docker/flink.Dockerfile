# syntax=docker/dockerfile:1.7
# The Flink image of the Compose stack: JobManager, TaskManager and the job-submit service.
# Flink 2.2.1 matches the project's apache-flink==2.2.1 (pyproject.toml); the connector jars are the
# ones scripts/jars/pom.xml declares, resolved by Maven in the first stage, so the embedded stack and this
# image run the same versions. Build context: the repository root.

# --- stage 1: connector jars from Maven Central, per scripts/jars/pom.xml (execution "flink-connectors"),
#     and the project's functions jar built from flink_jobs/java ---
FROM maven:3.9.9-eclipse-temurin-17 AS connector-jars
WORKDIR /build
COPY scripts/jars/pom.xml scripts/jars/pom.xml
RUN mvn -f scripts/jars/pom.xml -q -B dependency:copy@flink-connectors -Djars.dir=/build/jars
# the project's Java Flink functions (the metrics job's keyed flow stage), into the same folder
COPY flink_jobs/java/ flink_jobs/java/
RUN mvn -f flink_jobs/java/pom.xml -q -B package -Djars.dir=/build/jars

# --- stage 2: uv, to install a standalone CPython 3.11 whatever the base image's distribution ---
FROM ghcr.io/astral-sh/uv:0.13.9 AS uv

# --- stage 3: Flink with PyFlink, the project and its jobs ---
FROM flink:2.2.1-java17

COPY --from=uv /uv /usr/local/bin/uv
ENV UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN uv python install 3.11.13 && uv venv --python 3.11.13 /opt/venv
# The venv first on PATH: `python` for Flink's Python workers and `obm` for the job-submit service.
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /opt/obm
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
RUN uv pip install --python /opt/venv/bin/python .

COPY --from=connector-jars /build/jars/flink/ /opt/flink/lib/

# Checkpoints and savepoints live on named volumes mounted here; a new volume takes the owner of
# the directory in the image, so Flink (user flink) can write to it.
RUN mkdir -p /flink-data/checkpoints /flink-data/savepoints/rollout \
    && chown -R flink:flink /flink-data /opt/obm
