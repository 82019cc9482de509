"""The map of `workers/` holds: imports go one way, and RQ finds the job by either path.

`dashboard` → `workers` → `db`; inside `workers`, `operations` → `service` → `engine` (the
package docstrings say what lives where). Read from the source, function-level imports included,
so a shortcut taken inside a function fails here too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rq.utils import import_attribute

from workers.engine import jobs
from workers.engine.queue import JOB_FUNCTION

ROOT = Path(__file__).resolve().parents[1]

NEVER = {
    "db": ("workers", "dashboard"),
    "workers": ("dashboard",),
    "workers/engine": ("workers.service", "workers.operations"),
    "workers/service": ("workers.operations",),
}
"""Each folder, and the packages none of its modules may import."""


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("folder", sorted(NEVER))
def test_imports_go_one_way(folder: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in sorted(_imported(path))
        if any(name == never or name.startswith(never + ".") for never in NEVER[folder])
    ]
    assert not wrong


@pytest.mark.parametrize("path", [JOB_FUNCTION, "workers.jobs.synthesize", "workers.engine.jobs.synthesize"])
def test_rq_finds_the_job_by_the_path_queued_jobs_name(path: str) -> None:
    """Jobs queued before the move, and by either version during an upgrade, name the stable path."""
    assert import_attribute(path) is jobs.synthesize
