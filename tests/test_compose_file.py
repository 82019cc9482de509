"""The production compose file is one that compose accepts, with a worker that can scale, audio in a
bucket every container reaches (no shared disk), and Prometheus finding every worker by name."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.live import Commands

ROOT = Path(__file__).resolve().parents[1]


def _compose(commands: Commands) -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and commands.run(["docker", "compose", "version"]).returncode == 0:
        return ["docker", "compose"]
    pytest.skip("neither docker-compose nor the docker compose plugin is installed (apt-get install docker-compose)")


def test_compose_accepts_the_file_and_the_worker_scales(commands: Commands) -> None:
    config = commands.run([*_compose(commands), "-f", str(ROOT / "docker-compose.yml"), "config"])
    assert config.returncode == 0, config.stderr
    for service in ("postgres:", "redis:", "migrate:", "dashboard:", "worker:"):
        assert f"  {service}" in config.stdout
    worker = re.search(r"\n  worker:\n(.*?)(?=\n  \S|\Z)", config.stdout, re.DOTALL)
    assert worker is not None
    assert "command:" in worker.group(1) and "narration-desk" in worker.group(1)
    assert "container_name" not in worker.group(1)  # a fixed name (or host port) would stop --scale worker=N
    assert "ports:" not in worker.group(1)
    assert "STORAGE_URL: s3://media/media" in worker.group(1)
    assert "AWS_ENDPOINT_URL: http://minio:9000" in worker.group(1)
    assert "\n    volumes:" not in worker.group(1)  # the bucket, not a volume, is what the workers share


def test_the_monitoring_profile_scrapes_every_worker_the_scale_starts(commands: Commands) -> None:
    compose = [*_compose(commands), "-f", str(ROOT / "docker-compose.yml"), "--profile", "monitoring", "config"]
    config = commands.run([*compose, "--services"])
    assert config.returncode == 0, config.stderr
    assert {"minio", "bucket", "prometheus", "grafana"} <= set(config.stdout.split())
    scrape = (ROOT / "ops" / "prometheus-compose.yml").read_text()
    assert 'names: ["worker"]' in scrape and "port: 9465" in scrape  # DNS finds each container of --scale
