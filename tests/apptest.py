"""Finding AppTest widgets by what a person reads on them, not by their position on the page."""

from __future__ import annotations

import functools
import re
import string
from pathlib import Path
from typing import Any

from streamlit.components.v2 import manifest_scanner
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from workers.service.roles import SignedIn

# Every new AppTest scans the metadata of every installed distribution for Streamlit components
# (0.3-0.6 s of CPU each, more than most page tests take). What is installed cannot change during a
# run, so the scan is made once per process and its answer handed to every later AppTest.
manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")
"""The dashboard's entry script, which every AppTest of a page starts from (it signs in and navigates)."""


def open_narration(user: SignedIn, kind: str, row_id: int) -> AppTest:
    """The narration page of one row, as `user` sees it once signed in (the link /narration?kind=&id=)."""
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[KEY] = user
    app.run()
    app.query_params["kind"] = kind
    app.query_params["id"] = str(row_id)
    app.switch_page("pages/narration.py").run()
    assert not app.exception
    return app


def button(app: AppTest, label: str) -> Any:
    """The one button whose label starts with `label`."""
    found = [b for b in app.button if b.label.startswith(label)]
    assert len(found) == 1, f"buttons: {[b.label for b in app.button]}"
    return found[0]


def labels(app: AppTest) -> list[str]:
    return [b.label for b in app.button]


def selectbox(app: AppTest, label: str) -> Any:
    return next(s for s in app.selectbox if s.label == label)


def text_input(app: AppTest, label: str) -> Any:
    return next(t for t in app.text_input if t.label == label)


_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


def shown(markdown: str) -> str:
    """What a person reads of a Markdown body that `dashboard.plain.md` escaped (AppTest holds the source)."""
    return _ESCAPED.sub(r"\1", markdown).replace("\u2060", "")


def texts(app: AppTest, kind: str) -> list[str]:
    """What a person reads in every element of a kind ("error", "info", "success", "markdown", ...)."""
    return [shown(str(e.value)) for e in getattr(app, kind)]
