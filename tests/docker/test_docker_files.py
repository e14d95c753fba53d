"""What can be checked of docker/ without an engine: the files parse and point at real things."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "compose.yml"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_every_copied_path_exists_in_the_repository():
    copies = [args.split()[:-1] for word, args in dockerfile_instructions() if word == "COPY"]
    sources = [src for srcs in copies for src in srcs]
    assert {"pyproject.toml", "conf", "lakehouse", "jobs", "scrapers"} <= set(sources)
    missing = [src for src in sources if not (REPO / src).exists()]
    assert missing == []


def test_image_installs_with_make_setup_and_runs_the_console_command():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and "python:3.11" in instructions[0][1]
    runs = " ".join(args for word, args in instructions if word == "RUN")
    assert "openjdk-17" in runs and "maven" in runs and "make setup" in runs
    entrypoint = [args for word, args in instructions if word == "ENTRYPOINT"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint == ['["lakehouse"]'] and "lakehouse" in scripts


def test_compose_file_builds_the_image_and_binds_ports_to_loopback_only():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"spark-master", "spark-worker", "lakehouse"} <= set(services)
    build = services["lakehouse"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    ports = [p for s in services.values() for p in s.get("ports", [])]
    assert ports and all(p.startswith("127.0.0.1:") for p in ports)
