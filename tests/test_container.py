"""The Dockerfile and compose.yaml cannot run here (no Docker engine): what can be checked is."""

from __future__ import annotations

import re

import yaml

from botkit.cli import cli

from .conftest import REPO


def test_the_dockerfile_builds_in_one_stage_and_runs_botkit_serve_unprivileged() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.MULTILINE)
    assert len(stages) == 2 and stages[0][1] == "build"
    build, run = text.split("\nFROM ")[1], text.split("\nFROM ")[2]
    assert "build-essential" in build and "build-essential" not in run  # no compiler at run time
    assert re.search(r"^USER botkit$", run, re.MULTILINE)
    assert 'VOLUME ["/data"]' in run and "BOTKIT_HOME=/data" in run
    entry = re.search(r'^ENTRYPOINT \["botkit", "(\w+)"\]', run, re.MULTILINE)
    assert entry is not None and entry.group(1) in cli.commands
    init = re.search(r"^RUN botkit (\w+) /app$", run, re.MULTILINE)
    assert init is not None and init.group(1) in cli.commands
    assert "/healthz" in run


def test_compose_runs_workers_behind_a_balancer_with_chroma_and_redis() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert {"balancer", "botkit", "chroma", "redis", "model"} <= set(services)
    assert services["botkit"]["deploy"]["replicas"] >= 2
    nginx = (REPO / "deploy" / "nginx.conf").read_text()
    assert "server botkit:8000" in nginx and "proxy_buffering off" in nginx  # SSE unbuffered
    assert services["model"]["profiles"] == ["model"]
    env = services["botkit"]["environment"]
    assert env["BOTKIT_CHROMA_URL"] == "http://chroma:8000"
    assert env["BOTKIT_REDIS_URL"].startswith("redis://redis:")
    assert "BOTKIT_API_KEYS" in env
    for service in ("botkit", "balancer"):
        for mount in services[service]["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), source
            else:
                assert source in compose["volumes"], source
    assert set(services["botkit"]["depends_on"]) >= {"chroma", "redis"}
