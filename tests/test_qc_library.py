"""The library's QC badge and "Quality" filter (AppTest, real PostgreSQL): passing and failing verdicts,
flagged passages, rows never measured, and metadata the Django side wrote in shapes we never write."""

from __future__ import annotations

import json
from typing import Any

from redis import Redis
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import new_session
from db.library import Filters, page
from db.quality import Quality
from tests.apptest import APP, button, selectbox
from tests.factories import LOCAL, demo_data, staff_user
from workers.service.roles import SignedIn
from workers.service.submit import Request, submit


def _checks(passed: bool, flags: list[list[str]], failing: tuple[str, ...] = ()) -> dict[str, Any]:
    """`audio_metadata` as workers/engine/qc.py writes it (the figures trimmed to what is read here)."""
    return {
        "format": "wav",
        "qc": {
            "narration": {"loudness_lufs": -20.0, "true_peak_dbtp": -1.0},
            "passages": [
                {"index": i, "loudness_lufs": -20.0, "speaking_rate_cps": 14.0, "flags": f} for i, f in enumerate(flags)
            ],
            "verdict": {
                "profile": "Standard",
                "passed": passed,
                "failures": [{"check": name, "text": f"{name} too high"} for name in failing],
            },
        },
    }


ROWS: dict[str, tuple[str, Any]] = {
    "passes": ("completed", _checks(True, [[], []])),
    "fails, flagged": ("completed", _checks(False, [[], ["clips: true peak +0.3 dBTP"]], ("true peak",))),
    "two flagged": ("completed", _checks(True, [["6.2 LU quieter than its neighbours"], [], ["speaks 30 chars/s"]])),
    "never measured": ("completed", None),
    "qc a string": ("completed", {"qc": "measured later"}),
    "odd shapes": (
        "completed",
        {"qc": {"verdict": {"passed": "yes"}, "passages": [1, {"flags": "x"}, {"flags": [7]}]}},
    ),
    "an array": ("completed", [1, 2]),
    "not finished": ("queued", _checks(True, [["clips"]])),
}
"""What each row is, its status and the metadata written straight into the table (as Django would)."""

BADGES = {
    "passes": "✓ passes",
    "fails, flagged": "✗ true peak · 1 flagged",
    "two flagged": "2 flagged",
    "never measured": "—",
    "qc a string": "—",
    "odd shapes": "—",
    "an array": "—",
    "not finished": "—",
}


_WRITE = "UPDATE tts_sceneaudio SET status = :status, audio_metadata = CAST(:metadata AS jsonb) WHERE id = :id"


def _rows() -> dict[str, str]:
    """Each row of ROWS as a scene narration, named as the library names it ("scene #12")."""
    demo_data()
    named = {}
    for i, (name, (status, metadata)) in enumerate(ROWS.items()):
        row_id = submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Scene {name}.", **LOCAL)).row_id
        with new_session() as session:
            session.execute(
                text(_WRITE),
                {"status": status, "metadata": None if metadata is None else json.dumps(metadata), "id": row_id},
            )
            session.commit()
        named[name] = f"scene #{row_id}"
    return named


def _library(user: SignedIn, **query: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[KEY] = user
    for name, value in query.items():  # as if opened from a link: before the filters' first run
        app.query_params[name] = value
    app.run()
    app.switch_page("pages/library.py").run()
    assert not app.exception
    return app


def _table(app: AppTest) -> dict[str, str]:
    """narration → its quality badge, as the table shows them."""
    frame = app.dataframe[0].value
    return dict(zip(frame["narration"], frame["quality"], strict=True))


def test_each_row_shows_its_badge_and_odd_metadata_reads_as_not_measured(db: str, redis: Redis) -> None:
    named = _rows()

    shown = _table(_library(staff_user()))

    assert shown == {named[name]: badge for name, badge in BADGES.items()}


def test_the_quality_filter_lists_the_rows_its_badge_describes_and_opens_from_the_url(db: str, redis: Redis) -> None:
    named = _rows()
    expected = {
        Quality.PASSES: {"passes", "two flagged"},  # a passing verdict with flagged passages still passes
        Quality.FAILS: {"fails, flagged"},
        Quality.FLAGGED: {"fails, flagged", "two flagged"},  # not the queued row's, nor `flags: "x"` or `[7]`
        Quality.UNMEASURED: {"never measured", "qc a string", "odd shapes", "an array"},  # completed rows only
    }
    reader = staff_user("reader")
    app = _library(reader)
    assert list(selectbox(app, "Quality").options) == [
        "any quality", "passes", "fails", "has flagged passages", "not measured",
    ]  # fmt: skip
    for quality, names in expected.items():
        selectbox(app, "Quality").set_value(quality)
        button(app, "Apply").click().run()
        assert not app.exception
        assert set(_table(app)) == {named[name] for name in names}, quality

    reloaded = _library(
        reader, quality="has flagged passages"
    )  # the URL carries what the list shows  # a shared link opens on the same view
    assert set(_table(reloaded)) == {named["fails, flagged"], named["two flagged"]}
    assert selectbox(reloaded, "Quality").value == Quality.FLAGGED


def test_the_count_agrees_with_the_filtered_rows(db: str, redis: Redis) -> None:
    """The headline count and the page come from one filter: "2 narrations" means the two listed."""
    _rows()
    with new_session() as session:
        rows, total = page(session, Filters(quality=Quality.FLAGGED))
    assert total == len(rows) == 2
    assert sorted(row.qc_flagged for row in rows) == [1, 2]
