"""The library and narration pages (AppTest): list, every filter, safe search, open by row or by link."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import new_session
from db.lifecycle import cancel
from tests.apptest import button, labels, selectbox, texts
from tests.factories import LOCAL, demo_data, staff_user
from workers.jobs import synthesize
from workers.signin import Role
from workers.submit import Request, submit

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


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
    assert app.dataframe[0].value["id"].tolist() == [ids[2], ids[1], ids[0]]

    selectbox(app, "Status").set_value("completed")
    _apply(app)
    assert app.dataframe[0].value["id"].tolist() == [ids[0]]
    selectbox(app, "Status").set_value(None)
    selectbox(app, "Tag").set_value("calm")
    _apply(app)
    assert app.dataframe[0].value["id"].tolist() == [ids[2], ids[1]]
    selectbox(app, "Theme").set_value("sea")
    _apply(app)
    assert app.dataframe[0].value["id"].tolist() == [ids[2]]

    app.text_input[0].set_value("'; DROP TABLE tts_sceneaudio; --")
    _apply(app)
    assert texts(app, "info") == ["No narration matches."]

    app.text_input[0].set_value(f"scene {ids[0]}")
    selectbox(app, "Tag").set_value(None)
    selectbox(app, "Theme").set_value(None)
    _apply(app)
    assert app.dataframe[0].value["id"].tolist() == [ids[0]]
    selectbox(app, "Open").set_value(0).run()
    assert not app.exception
    assert app.title[0].value == f"Scene narration #{ids[0]}"
    assert app.get("audio"), "the opened narration has no player"
    assert [t.label for t in app.tabs] == ["Details", "Passages", "Duplicate with changes"]


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


def test_staff_retry_every_failed_narration_a_filter_shows_and_viewers_cannot(db: str, redis: Redis) -> None:
    demo_data()
    ids = [submit(Request(kind="scene", target_id=n, prompt=f"Scene {n}.", **LOCAL)).row_id for n in (1, 2, 3)]
    with new_session() as session:
        for row_id in ids[:2]:
            cancel(session, "scene", row_id)

    viewer = _library("reader-only", role=Role.VIEWER)
    selectbox(viewer, "Status").set_value("failed")
    _apply(viewer)
    assert not [b for b in viewer.button if b.label.endswith("them")]  # no bulk action for a viewer

    app = _library("editor")
    selectbox(app, "Status").set_value("queued")
    _apply(app)
    assert "Cancel them" in labels(app)  # queued rows offer a bulk cancel, not a retry
    selectbox(app, "Status").set_value("failed")
    _apply(app)
    assert app.dataframe[0].value["id"].tolist() == [ids[1], ids[0]]
    button(app, "Retry them").click().run()
    assert texts(app, "info")[0] == "Queued 2 failed narrations again; chunks already done are not paid for twice."
    assert texts(app, "info")[1] == "No narration matches."  # the list now shows what is left: nothing
