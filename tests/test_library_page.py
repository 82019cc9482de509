"""The library and narration pages (AppTest): list, every filter, safe search, labels people read, open by a
click on a row or by link."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard.labels import when
from dashboard.plain import md
from dashboard.session import KEY
from db.engine import get_engine, new_session
from db.lifecycle import cancel
from db.models import SceneAudio, StoryAudio
from db.settings import get_settings
from db.users import create_user
from tests.apptest import APP, button, labels, selectbox, text_input, texts
from tests.factories import LOCAL, demo_data, staff_user
from workers.engine.jobs import synthesize
from workers.service.roles import Role
from workers.service.submit import Request, submit


def _library(user_name: str = "reader", role: Role = Role.STAFF) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[KEY] = staff_user(user_name, role=role)
    app.run()
    app.switch_page("pages/library.py").run()
    assert not app.exception
    return app


def _apply(app: AppTest) -> None:
    button(app, "Apply").click().run()
    assert not app.exception


def _listed(app: AppTest) -> list[str]:
    """The table's "narration" column: "scene #12", newest first."""
    return list(app.dataframe[0].value["narration"])


def _click(app: AppTest, row: int, column: str) -> None:
    """What a click on a cell of the table sends: its selection."""
    app.session_state["library-table"] = {"selection": {"rows": [], "columns": [], "cells": [(row, column)]}}
    app.run()
    assert not app.exception


def test_library_lists_filters_and_opens_a_narration(db: str, redis: Redis) -> None:
    demo_data()
    ids = [
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Scene number {i}.", tags=("calm",) if i else (),
                       theme="sea" if i == 2 else None, **LOCAL)).row_id
        for i in range(3)
    ]  # fmt: skip
    synthesize("scene", ids[0])

    app = _library()
    assert app.caption[-1].value == "3 narrations · page 1 of 1"
    assert _listed(app) == [f"scene #{ids[2]}", f"scene #{ids[1]}", f"scene #{ids[0]}"]

    selectbox(app, "Status").set_value("completed")
    _apply(app)
    assert _listed(app) == [f"scene #{ids[0]}"]
    selectbox(app, "Status").set_value(None)
    selectbox(app, "Tag").set_value("calm")
    _apply(app)
    assert _listed(app) == [f"scene #{ids[2]}", f"scene #{ids[1]}"]
    selectbox(app, "Theme").set_value("sea")
    _apply(app)
    assert _listed(app) == [f"scene #{ids[2]}"]

    app.text_input[0].set_value("'; DROP TABLE tts_sceneaudio; --")
    _apply(app)
    assert texts(app, "info") == ["No narration matches."]

    app.text_input[0].set_value(f"scene {ids[0]}")
    selectbox(app, "Tag").set_value(None)
    selectbox(app, "Theme").set_value(None)
    _apply(app)
    assert _listed(app) == [f"scene #{ids[0]}"]
    _click(app, 0, "voice")  # any cell of the row
    assert app.title[0].value == f"Scene narration #{ids[0]}"
    assert app.get("audio"), "the opened narration has no player"
    assert [t.label for t in app.tabs] == ["Details", "Passages", "Review", "Duplicate with changes"]


def test_who_asked_is_a_typed_username_and_stories_come_with_their_project(db: str, redis: Redis) -> None:
    demo_data()
    with new_session() as session:
        customer = create_user(session, username="customer-7", password="a long enough secret").id
        session.commit()
    theirs = submit(Request(kind="story", target_id=1, prompt="Theirs.", user_id=customer, **LOCAL)).row_id
    submit(Request(kind="scene", target_id=3, prompt="Someone else's.", **LOCAL))

    app = _library()
    assert "By" not in [s.label for s in app.selectbox]  # auth_user's customers are never listed
    text_input(app, "By").set_value("customer-7")
    _apply(app)
    assert _listed(app) == [f"story #{theirs}"]
    text_input(app, "By").set_value("customer")  # a username, not a part of one
    _apply(app)
    assert texts(app, "info") == ["No narration matches."]

    text_input(app, "By").set_value("")
    assert selectbox(app, "Story").disabled  # no project picked: no list of every story
    selectbox(app, "Project").set_value(1)
    _apply(app)
    story = selectbox(app, "Story")
    assert not story.disabled and "The Lighthouse Keeper's Cat" in story.options


def test_a_link_opens_the_narration_and_a_bad_link_says_so(db: str, redis: Redis) -> None:
    demo_data()
    row_id = submit(Request(kind="story", target_id=1, prompt="A short story.", **LOCAL)).row_id
    app = _library()
    app.query_params["kind"] = "story"
    app.query_params["id"] = str(row_id)
    app.switch_page("pages/narration.py").run()
    assert not app.exception
    assert app.title[0].value == f"Story narration #{row_id}"

    app.query_params["id"] = "12; DROP TABLE x"
    app.run()
    assert texts(app, "error")[0].startswith("This link does not name a narration.")
    app.query_params["id"] = "999999"
    app.run()
    assert texts(app, "info") == ["Story narration #999999 no longer exists."]


def test_staff_retry_every_cancelled_narration_a_filter_shows_and_viewers_cannot(db: str, redis: Redis) -> None:
    demo_data()
    ids = [submit(Request(kind="scene", target_id=n, prompt=f"Scene {n}.", **LOCAL)).row_id for n in (1, 2, 3)]
    with new_session() as session:
        for row_id in ids[:2]:
            cancel(session, "scene", row_id)

    viewer = _library("reader-only", role=Role.VIEWER)
    selectbox(viewer, "Status").set_value("cancelled")
    _apply(viewer)
    assert len(_listed(viewer)) == 2
    assert not [b for b in viewer.button if b.label.endswith("them")]  # no bulk action for a viewer

    app = _library("editor")
    selectbox(app, "Status").set_value("queued")
    _apply(app)
    assert "Cancel them" in labels(app)  # queued rows offer a bulk cancel, not a retry
    selectbox(app, "Status").set_value("failed")
    _apply(app)
    assert texts(app, "info") == ["No narration matches."]  # a cancel is not a failure
    selectbox(app, "Status").set_value("cancelled")
    _apply(app)
    assert _listed(app) == [f"scene #{ids[1]}", f"scene #{ids[0]}"]
    assert list(app.dataframe[0].value["status"]) == ["cancelled", "cancelled"]
    button(app, "Retry them").click().run()
    assert texts(app, "info")[0] == "Queued 2 cancelled narrations again; chunks already done are not paid for twice."
    assert texts(app, "info")[1] == "No narration matches."  # the list now shows what is left: nothing


def _paris(monkeypatch: pytest.MonkeyPatch) -> ZoneInfo:
    """Times shown in Paris: the setting wins over the browser's zone (AppTest has none)."""
    monkeypatch.setenv("DISPLAY_TIME_ZONE", "Europe/Paris")
    get_settings.cache_clear()
    return ZoneInfo("Europe/Paris")


def _told_by_rachel(story_id: int) -> int:
    """A story narration as a finished ElevenLabs job is stored: ids, not names; seconds, not m:ss."""
    row_id = submit(Request(kind="story", target_id=story_id, prompt="Ada took the brass key.", **LOCAL)).row_id
    with get_engine().begin() as connection:
        connection.execute(
            text(
                "UPDATE tts_storyaudio SET status = 'completed', provider = 'elevenlabs', priority = 1, "
                "model_backend = 'eleven_flash_v2', voice_style = '21m00Tcm4TlvDq8ikWAM', duration_seconds = 2988.3, "
                "started_at = created_at + interval '1 minute', completed_at = created_at + interval '9 minutes' "
                "WHERE id = :id"
            ),
            {"id": row_id},
        )
    return row_id


def test_the_table_reads_as_people_say_it(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    paris = _paris(monkeypatch)
    demo_data()
    story = _told_by_rachel(2)
    scene = submit(Request(kind="scene", target_id=1, prompt="A tall white lighthouse.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", scene)
        created = session.get_one(SceneAudio, scene).created_at

    app = _library()
    table = app.dataframe[0].value
    assert list(table.columns) == [
        "narration",
        "narrates",
        "status",
        "quality",
        "voice",
        "length",
        "created",
        "by",
        "board",
    ]
    by_row = {line["narration"]: line for line in table.to_dict("records")}
    told, named = by_row[f"story #{story}"], by_row[f"scene #{scene}"]
    assert told["narrates"] == "The Clockmaker's Apprentice"
    assert told["voice"] == "Rachel · ElevenLabs Flash v2"  # no voice id, no `eleven_flash_v2`
    assert told["length"] == "49:48"  # not 2988.3 s
    assert told["status"] == "completed"
    assert named["narrates"] == (
        "A tall white lighthouse on a rocky island at dusk, its lamp just beginning to g… "
        "in “The Lighthouse Keeper's Cat”"
    )  # a scene names its story
    assert named["status"] == "cancelled" and named["length"] == "—" and named["quality"] == "—"
    assert named["voice"] == "joe · Local voice Piper en_US joe (medium)"
    assert named["created"] == when(created, paris)
    assert named["created"].endswith(("CET", "CEST")) and "+00:00" not in named["created"]

    selectbox(app, "Status").set_value("cancelled")
    _apply(app)
    assert _listed(app) == [f"scene #{scene}"]
    selectbox(app, "Status").set_value("failed")
    _apply(app)
    assert texts(app, "info") == ["No narration matches."]


def test_the_narration_details_read_as_people_say_it(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    paris = _paris(monkeypatch)
    demo_data()
    story = _told_by_rachel(2)
    with new_session() as session:
        row = session.get_one(StoryAudio, story)
        created, started, completed = row.created_at, row.started_at, row.completed_at
    app = _library()
    _click(app, 0, "narrates")
    assert app.title[0].value == f"Story narration #{story}"

    timeline, facts = (frame.value for frame in app.dataframe[:2])
    events = dict(zip(timeline["event"], timeline["when"], strict=True))
    # created through submit, so its "submitted" event stands for the row's creation stamp
    assert events["submitted"] == when(created, paris) and events["started"] == when(started, paris)
    assert events["completed"] == when(completed, paris)
    assert all(moment.endswith(("CET", "CEST")) and "+00:00" not in moment for moment in events.values())
    said = dict(zip(facts[""], facts["value"], strict=True))
    assert said["voice"] == "Rachel" and said["provider"] == "ElevenLabs" and said["model"] == "Flash v2"
    assert said["length"] == "49:48" and said["priority"] == "high"
    assert said["characters billed"] == "0" and said["cost"] == "$0.0000"  # no passage billed: as before


def test_a_click_in_the_board_column_opens_the_rows_story_board(db: str, redis: Redis) -> None:
    demo_data()
    submit(Request(kind="scene", target_id=4, prompt="A workshop of clocks.", **LOCAL))  # the clockmaker's story
    app = _library()
    assert app.dataframe[0].value["board"].tolist() == ["board"]
    _click(app, 0, "board")
    assert app.title[0].value == md("The Clockmaker's Apprentice")  # its story's board, not the narration
