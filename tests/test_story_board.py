"""The story board (AppTest and its module): the story, then each scene in order with its state; the
missing scenes stand out and are narrated in one action, the completed ones play in order.
Real PostgreSQL and Redis, the fake OpenAI at the HTTP level."""

from __future__ import annotations

import json
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.library_table import BOARD, lines
from dashboard.plain import md
from dashboard.play_all import Track, play_all_html
from dashboard.session import KEY
from dashboard.story_board import tracks
from db.board import story_board
from db.engine import new_session
from db.library import Filters, page
from db.models import SceneAudio
from tests.apptest import APP, button
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize
from workers.service.roles import SignedIn
from workers.service.submit import Request, submit

LIGHTHOUSE = 1
"""The demo's first story: three scene images, #1 to #3."""


def _narrated(kind: str, target_id: int, text: str, user: SignedIn) -> int:
    row_id = submit(Request(kind=kind, target_id=target_id, prompt=text, user_id=user.user_id, **OPENAI)).row_id  # type: ignore[arg-type]
    synthesize(kind, row_id)
    return row_id


def _board(user: SignedIn, story: int) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[KEY] = user
    app.run()
    app.query_params["id"] = str(story)
    app.switch_page("pages/board.py").run()
    assert not app.exception
    return app


def test_the_board_shows_the_story_then_each_scene_and_narrates_only_the_missing_ones(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    story = _narrated("story", LIGHTHOUSE, "The lamp turned.", editor)
    first = _narrated("scene", 1, "A lighthouse at dusk.", editor)
    fake.fail_next("quota")
    second = _narrated("scene", 2, "A cat by the lens.", editor)

    with new_session() as session:
        board = story_board(session, LIGHTHOUSE)
    assert board is not None
    assert [(s.kind, s.target_id, s.narration_id, s.status) for s in board.slots] == [
        ("story", LIGHTHOUSE, story, "completed"),
        ("scene", 1, first, "completed"),
        ("scene", 2, second, "failed"),
        ("scene", 3, None, None),
    ]
    assert [s.target_id for s in board.missing_scenes] == [2, 3]
    assert [t.src for t in tracks(board, "http://desk.example/board?id=1")] == [
        f"http://desk.example/narration-desk/audio/story/{story}",
        f"http://desk.example/narration-desk/audio/scene/{first}",
    ]  # play all: the story, then the scenes in order, only what can play

    app = _board(editor, LIGHTHOUSE)
    assert app.title[0].value == md("The Lighthouse Keeper's Cat")  # escaped: the title is people's words
    heads = [m.value for m in app.markdown if m.value.startswith("**")]
    assert [h.split(" · ")[0] for h in heads] == ["**Story**", "**Scene 1**", "**Scene 2**", "**Scene 3**"]
    assert "failed" in heads[2] and "not narrated" in heads[3] and "completed" in heads[1]
    assert [w.value for w in app.warning] == [
        "2 of 3 scenes have no narration to play: never narrated, failed or cancelled."
    ]
    played = [e for e in app.get("html")]
    assert len(played) == 1 and "Play all (2)" in played[0].proto.body
    back = {p.proto.label: p.proto.query_string for p in app.get("page_link")}["This story in the library"]
    assert parse_qs(back) == {"project": ["Demo: Tales for the evening"], "story": ["The Lighthouse Keeper's Cat"]}

    button(app, "Narrate 2 missing scenes").click().run()
    assert not app.exception and app.success[0].value.startswith(md("Queued 2 scene narration(s)"))
    with new_session() as session:
        queued = session.scalars(select(SceneAudio.image_id).where(SceneAudio.status == "queued")).all()
    assert sorted(queued) == [2, 3]  # the completed scene is not paid for again

    with new_session() as session:  # the library: every row of the story leads to this board
        rows, _ = page(session, Filters(project_id=board.project_id, story_id=LIGHTHOUSE))
    assert len(rows) == 5 and {r.story_id for r in rows} == {LIGHTHOUSE}
    assert {line["board"] for line in lines(rows, ZoneInfo("UTC"))} == {BOARD}


def test_a_board_of_a_story_that_does_not_exist_says_so(fake: FakeProviders) -> None:
    app = _board(staff_user("reader"), 999)
    assert [e.value for e in app.error] == ["Story #999 does not exist (it may have been deleted). Pick another story:"]


def test_a_caption_cannot_break_out_of_the_players_script() -> None:
    hostile = "</script><img src=x onerror=alert(1)><!--"
    html = play_all_html([Track(hostile, "/narration-desk/audio/scene/1")])
    script = html.split("<script>", 1)[1].rsplit("</script>", 1)[0]
    assert "</script>" not in script and "<img" not in script and "<!--" not in script
    listed = json.loads(script.split("const tracks = ", 1)[1].split(";\n", 1)[0])
    assert listed == [{"label": hostile, "src": "/narration-desk/audio/scene/1"}]  # the words themselves, unchanged
