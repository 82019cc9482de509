"""The fake providers as a process of their own, for a simulated host (tests/netns.py).

    python -m tests.provider_host 10.77.0.2 8000 --latency 1 --calls calls.json

Serves both fake APIs on that address until SIGTERM, and keeps the calls it received in a JSON file
(rewritten a few times a second, by rename, so a reader never sees half of it): the test reads it
through the file system, since the test itself is not on the simulated network.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import threading
from pathlib import Path

from tests.fake_providers import FakeProviders

WRITE_EVERY = 0.2


def _write(fake: FakeProviders, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps([dataclasses.asdict(call) for call in fake.calls]))
    partial.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument("--seconds-per-char", type=float, default=0.002, help="audio per character of text")
    parser.add_argument("--calls", type=Path, required=True, help="the JSON file the calls are kept in")
    arguments = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeProviders(
        address=(arguments.address, arguments.port), latency=arguments.latency,
        seconds_per_char=arguments.seconds_per_char, api_key=os.environ.get("FAKE_API_KEY", "test-key"),
    ) as fake:  # fmt: skip
        while not stop.wait(WRITE_EVERY):
            _write(fake, arguments.calls)
        _write(fake, arguments.calls)


if __name__ == "__main__":
    main()
