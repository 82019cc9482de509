"""Finding AppTest widgets by what a person reads on them, not by their position on the page."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest


def button(app: AppTest, label: str) -> Any:
    """The one button whose label starts with `label`."""
    found = [b for b in app.button if b.label.startswith(label)]
    assert len(found) == 1, f"buttons: {[b.label for b in app.button]}"
    return found[0]


def labels(app: AppTest) -> list[str]:
    return [b.label for b in app.button]


def selectbox(app: AppTest, label: str) -> Any:
    return next(s for s in app.selectbox if s.label == label)


def texts(app: AppTest, kind: str) -> list[str]:
    """The values of every element of a kind ("error", "info", "success", "markdown", ...)."""
    return [str(e.value) for e in getattr(app, kind)]
