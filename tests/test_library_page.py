"""The library page (AppTest): lists, filters, searches safely, pages, and opens a narration."""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from tests.factories import demo_data, staff_user
from workers.jobs import synthesize
from workers.submit import Request, submit

PAGE = str(Path(__file__).resolve().parents[1] / "dashboard" / "pages" / "library.py")


def test_library_lists_filters_and_plays(db: str, redis: Redis) -> None:
    demo_data()
    user = staff_user("reader")
    ids = [
        submit(Request(kind="scene", target_id=1 + i % 7, prompt=f"Scene number {i}.", provider="local",
                       model="piper:en_US-joe-medium", voice="joe")).row_id
        for i in range(3)
    ]  # fmt: skip
    synthesize("scene", ids[0])

    app = AppTest.from_file(PAGE, default_timeout=30)
    app.session_state[KEY] = user
    app.run()
    assert not app.exception
    assert app.caption[0].value == "3 narrations · page 1 of 1"
    assert app.dataframe[0].value["id"].tolist() == [ids[2], ids[1], ids[0]]

    status = next(s for s in app.selectbox if s.label == "Status")
    status.set_value("completed")
    app.button[0].click().run()  # Apply
    assert app.dataframe[0].value["id"].tolist() == [ids[0]]
    assert app.get("audio"), "the opened narration has no player"

    app.text_input[0].set_value("'; DROP TABLE tts_sceneaudio; --")
    app.button[0].click().run()
    assert not app.exception and app.info[0].value == "No narration matches."
