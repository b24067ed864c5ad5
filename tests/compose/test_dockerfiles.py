"""The Dockerfiles are buildable by construction: pinned bases, every COPY source in the repository
and inside the build context the .dockerignore leaves, versions that match the project's."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest
from compose_model import REPO, dockerfile_instructions, dockerignore_allows, services

pytestmark = pytest.mark.unit

DOCKERFILES = sorted((REPO / "docker").glob("*.Dockerfile"))


def test_every_compose_build_uses_a_dockerfile_of_docker_dir() -> None:
    used = {REPO / svc["build"]["dockerfile"] for svc in services().values() if "build" in svc}
    assert used == set(DOCKERFILES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(dockerfile: Path) -> None:
    stages: set[str] = set()
    for ins in dockerfile_instructions(dockerfile):
        if ins.keyword != "FROM":
            continue
        parts = ins.args.split()
        image = parts[0]
        if len(parts) >= 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
        if image in stages:
            continue
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{dockerfile.name}: {image} is not pinned"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_inside_the_context(dockerfile: Path) -> None:
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    assert ignore.is_file(), "a per-Dockerfile .dockerignore keeps .venv, .state and .env out of the context"
    copies = 0
    for ins in dockerfile_instructions(dockerfile):
        if ins.keyword not in ("COPY", "ADD"):
            continue
        args = [a for a in ins.args.split() if not a.startswith("--")]
        if "--from=" in ins.args:
            continue
        assert ins.keyword == "COPY", "ADD fetches or unpacks implicitly; use COPY"
        for source in args[:-1]:
            copies += 1
            assert ".." not in Path(source).parts and not source.startswith("/"), (
                f"{source} leaves the context"
            )
            assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source} does not exist"
            assert dockerignore_allows(ignore, source.rstrip("/")), f"{dockerfile.name}: {source} is ignored"
    assert copies >= 5


def test_every_package_of_the_project_is_copied_into_both_images() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    include = re.search(r"include = \[([^\]]*)\]", pyproject)
    assert include is not None
    packages = {p.strip().strip('"').rstrip("*") for p in include.group(1).split(",") if p.strip()}
    for dockerfile in DOCKERFILES:
        copied = {
            ins.args.split()[0].rstrip("/")
            for ins in dockerfile_instructions(dockerfile)
            if ins.keyword == "COPY" and "--from=" not in ins.args
        }
        assert packages <= copied, (
            f"{dockerfile.name} misses {packages - copied}: `pip install .` would lack them"
        )


def test_flink_image_matches_pyflink_and_the_connector_build() -> None:
    text = (REPO / "docker/flink.Dockerfile").read_text()
    base = re.search(r"^FROM (flink:\S+)$", text, re.M)
    assert base is not None
    assert base.group(1) == f"flink:{version('apache-flink')}-java17", (
        "JVM Flink must equal PyFlink's version"
    )
    assert f'"apache-flink=={version("apache-flink")}"' in (REPO / "pyproject.toml").read_text()
    # the Maven stage runs an execution that scripts/jars/pom.xml declares, with an output dir it can override
    execution = re.search(r"dependency:copy@([\w-]+) -Djars\.dir=(\S+)", text)
    assert execution is not None
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(REPO / "scripts/jars/pom.xml").getroot()
    ids = {e.text for e in pom.findall(".//m:execution/m:id", ns)}
    assert execution.group(1) in ids
    out_dirs = [e.text for e in pom.findall(".//m:execution/m:configuration/m:outputDirectory", ns)]
    assert "${jars.dir}/flink" in out_dirs
    assert f"COPY --from=connector-jars {execution.group(2)}/flink/ /opt/flink/lib/" in text
    # Flink's Python workers and the job-submit client use the image's venv
    props = services()["flink-jobmanager"]["environment"]["FLINK_PROPERTIES"]
    assert "python.executable: /opt/venv/bin/python" in props and "uv venv --python 3.11" in text
