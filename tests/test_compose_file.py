"""The production compose file is one that compose accepts, with a worker that can scale."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed (apt-get install docker-compose)")


def test_compose_accepts_the_file_and_the_worker_scales() -> None:
    config = subprocess.run(
        [*_compose(), "-f", str(ROOT / "docker-compose.yml"), "config"], capture_output=True, text=True, check=False
    )
    assert config.returncode == 0, config.stderr
    for service in ("postgres:", "redis:", "migrate:", "dashboard:", "worker:"):
        assert f"  {service}" in config.stdout
    worker = re.search(r"\n  worker:\n(.*?)(?=\n  \S|\Z)", config.stdout, re.DOTALL)
    assert worker is not None
    assert "command:" in worker.group(1) and "narration-desk" in worker.group(1)
    assert "container_name" not in worker.group(1)  # a fixed name (or host port) would stop --scale worker=N
    assert "ports:" not in worker.group(1)
