"""Links to one narration's page (`/narration?kind=story&id=12`), readable in any browser tab."""

from __future__ import annotations

from collections.abc import Mapping

from db.narrations import KINDS, Kind

PAGE = "pages/narration.py"


class BadLink(ValueError):
    """The link names no narration; the message says what a good one looks like."""


def parse(params: Mapping[str, str]) -> tuple[Kind, int]:
    """(kind, id) from the page's query parameters. Raises BadLink with a sentence."""
    kind, raw = params.get("kind", ""), params.get("id", "")
    if kind not in KINDS or not raw.isdigit() or len(raw) > 18:
        raise BadLink(
            "This link does not name a narration. Links look like …/narration?kind=story&id=12; "
            "find the narration in the library instead."
        )
    return KINDS[kind].name, int(raw)


def params(kind: str, row_id: int) -> dict[str, str]:
    return {"kind": kind, "id": str(row_id)}


def url(kind: str, row_id: int) -> str:
    """The page's address relative to the dashboard's root, for link columns."""
    return f"narration?kind={kind}&id={row_id}"
