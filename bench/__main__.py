"""`python -m bench [name ...]`: run the benchmarks and print each ratio (`make bench`)."""

from __future__ import annotations

import logging
import sys

from bench import (
    bulk,
    connections,
    dashboard_load,
    library_page,
    live_upgrade,
    local_voice,
    long_story,
    many_hosts,
    mastering,
    metrics_scrape,
    monitoring,
    narration_memory,
    object_storage,
    qc,
    seeding,
    splitter,
    takeover,
    worker_overhead,
)
from bench.setup import bench_environment

BENCHMARKS = {
    "worker": worker_overhead.run,
    "long-story": long_story.run,
    "local-voice": local_voice.run,
    "library": library_page.run,
    "monitoring": monitoring.run,
    "splitter": splitter.run,
    "qc": qc.run,
    "narration-memory": narration_memory.run,
    "mastering": mastering.run,
    "bulk": bulk.run,
    "takeover": takeover.run,
    "seeding": seeding.run,
    "metrics": metrics_scrape.run,
    "object-storage": object_storage.run,
    "connections": connections.run,
    "live-upgrade": live_upgrade.run,
    "many-hosts": many_hosts.run,
    "dashboard-load": dashboard_load.run,
}


def main(names: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    for name in names or list(BENCHMARKS):
        with bench_environment() as connection:
            results = BENCHMARKS[name](connection)
        print(f"\n== {name}")
        for label, value in results.items():
            print(f"  {label:<60} {value:10.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
