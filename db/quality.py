"""What a narration's stored quality checks say, read in SQL: the library's QC badge and its filter.

`audio_metadata["qc"]` is written by workers/engine/qc.py (`{"narration", "passages", "verdict"}`), but the
column is shared with the Django app and anyone with SQL: nothing in it is trusted. Every figure is
read through a strict jsonpath in silent mode, so a value of the wrong shape (a string where an
object should be, a passage without flags) reads as "not there" instead of raising, and a page of
the library never fails on one odd row. Only what the badge needs is selected (a verdict, the
failing checks' names, a count), never the per-passage figures, which run to many kB on a long story.

The filter and the badge read the same jsonpaths, so "has flagged passages" lists exactly the rows
whose badge counts flagged passages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column
from sqlalchemy.dialects.postgresql import JSONB

from db.models import SceneAudio, Status, StoryAudio


class Quality(StrEnum):
    """What the library's "Quality" filter narrows to."""

    PASSES = "passes"
    """The profile's verdict passed (passages may still be flagged)."""
    FAILS = "fails"
    FLAGGED = "flagged"
    """At least one passage is flagged, whatever the verdict."""
    UNMEASURED = "unmeasured"
    """Completed without a readable verdict: finished before the checks existed, or edited elsewhere.
    Rows that are not completed have nothing to measure and are not listed."""


def _path(jsonpath: str) -> ColumnElement[Any]:
    """A constant jsonpath (written here, never from input), inlined in the SQL."""
    return literal_column(f"'{jsonpath}'::jsonpath")


_VERDICT = _path('strict $.qc.verdict.passed ? (@.type() == "boolean")')
_FAILING = _path('strict $.qc.verdict.failures[*].check ? (@.type() == "string")')
_FLAGGED = _path(
    'strict $.qc.passages[*] ? (@.flags.type() == "array" && exists (@.flags[*] ? (@.type() == "string")))'
)
"""A passage counts as flagged when its `flags` is a list holding at least one sentence (workers/engine/qc.py)."""
_NO_VARS: ColumnElement[Any] = literal_column("'{}'::jsonb")
_SILENT: ColumnElement[Any] = literal_column("true")

NarrationModel = type[StoryAudio] | type[SceneAudio]


def verdict(model: NarrationModel) -> ColumnElement[bool | None]:
    """True when the verdict passed, False when it failed, NULL when there is none to read."""
    found = func.jsonb_path_query_first(model.audio_metadata, _VERDICT, _NO_VARS, _SILENT, type_=JSONB)
    return found.op("=")(literal_column("'true'::jsonb"))


def failing(model: NarrationModel) -> ColumnElement[list[str]]:
    """The names of the verdict's failing checks ("true peak"), as a JSON list of strings."""
    return func.jsonb_path_query_array(model.audio_metadata, _FAILING, _NO_VARS, _SILENT, type_=JSONB)


def flagged(model: NarrationModel) -> ColumnElement[int]:
    """How many passages are flagged (0 when none, or nothing readable)."""
    found = func.jsonb_path_query_array(model.audio_metadata, _FLAGGED, _NO_VARS, _SILENT, type_=JSONB)
    return func.coalesce(func.jsonb_array_length(found), 0)


def condition(model: NarrationModel, quality: Quality) -> ColumnElement[bool]:
    """The rows the filter keeps for `quality`; every one of them is a completed narration."""
    completed = model.status == Status.COMPLETED
    if quality == Quality.FLAGGED:
        has = func.jsonb_path_exists(model.audio_metadata, _FLAGGED, _NO_VARS, _SILENT)
        return completed & has.is_(True)
    said = verdict(model)
    if quality == Quality.PASSES:
        return completed & said.is_(True)
    if quality == Quality.FAILS:
        return completed & said.is_(False)
    return completed & said.is_(None)
