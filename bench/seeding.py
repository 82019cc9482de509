"""`seed-demo --rows 1,000,000` (goal < 30 s), beside the seeder it replaced, measured in the same run.

Run without DATABASE_URL so the bench starts an embedded PostgreSQL in a temporary folder, as
`narration-desk run` does. Every measurement seeds a fresh database (migrated, demo data), so each
loads into empty tables. The baseline is the seeder as it was before the bulk path (commit BEFORE:
rows in random order, pandas' CSV and json.dumps per row, a foreign-key check per row at commit,
every index maintained row by row), read from git history so it is the real old code, not a
reconstruction; the two are compared at BASELINE_ROWS (the old one took over a minute at a million),
alternating, best of TRIES each. The machine's load average is printed: on a shared 2-core machine
the seconds move with whatever else runs, the ratio less.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis import Redis

from bench.setup import bench_environment
from workers.operations.demo_history import seed_history

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
BASELINE_ROWS = 100_000
TRIES = 3
BEFORE = "7ec58bc"
"""The last commit whose workers/demo_history.py seeded row by row around COPY."""
ROOT = Path(__file__).resolve().parent.parent


def _seeder_before(folder: Path) -> Callable[[int], Any]:
    """`seed_history` of commit BEFORE, imported from a copy of its file."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE}:workers/demo_history.py"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError) as failed:
        raise SystemExit(f"The baseline needs this checkout's git history (commit {BEFORE}): {failed}") from None
    # It imports the catalogue from where it was then; it has been in workers/engine/ since.
    source = source.replace("from workers.catalogue import", "from workers.engine.catalogue import")
    path = folder / "demo_history_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("demo_history_before", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"Could not load the baseline seeder from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    seeder: Callable[[int], Any] = module.seed_history
    return seeder


def _seconds(seeder: Callable[[int], Any], rows: int) -> float:
    """Seed `rows` into a fresh database on the bench's server; the seeder's wall time."""
    with bench_environment("narration_desk_bench_seeding"):
        started = time.perf_counter()
        seeder(rows)
        return time.perf_counter() - started


def run(connection: Redis) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="nd-bench-seeding-") as folder:
        before = _seeder_before(Path(folder))
        load = os.getloadavg()[0]
        old, new = [], []
        for _ in range(TRIES):
            old.append(_seconds(before, BASELINE_ROWS))
            new.append(_seconds(seed_history, BASELINE_ROWS))
        full = _seconds(seed_history, ROWS)
    return {
        f"seed-demo --rows {ROWS:,} (s, goal < 30)": full,
        f"before, {BASELINE_ROWS:,} rows (s, best of {TRIES})": min(old),
        f"now, {BASELINE_ROWS:,} rows (s, best of {TRIES})": min(new),
        f"ratio before / now at {BASELINE_ROWS:,} rows": min(old) / min(new),
        "load average (1 min) at the start": load,
        "load average (1 min) at the end": os.getloadavg()[0],
        "peak RSS of the bench process (MB)": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
