"""The narration card (AppTest, no browser): its badge, names, length, download name and place in
line, the actions it offers, and what the delete dialog says will go."""

from __future__ import annotations

from redis import Redis
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from dashboard.views import full_file
from db.engine import get_engine, new_session
from db.lifecycle import cancel
from tests.apptest import labels, open_narration, texts
from tests.factories import LOCAL, demo_data, staff_user
from workers.engine.jobs import synthesize
from workers.service import actions
from workers.service.roles import Role
from workers.service.submit import Request, submit


def _read(app: AppTest) -> list[str]:
    return [*texts(app, "markdown"), *texts(app, "caption")]


def test_a_finished_narration_reads_in_names_and_its_download_is_named_after_the_story(db: str, redis: Redis) -> None:
    demo_data()
    row_id = submit(Request(kind="story", target_id=1, prompt="The lighthouse cat.", **LOCAL)).row_id
    synthesize("story", row_id)
    app = open_narration(staff_user(), "story", row_id)

    read = _read(app)
    assert f"**Story narration #{row_id}** · :green-badge[:material/check_circle: completed]" in read
    assert "Local voice (Piper, offline) · Piper en_US joe (medium) · voice joe" in read  # not the model id
    assert any(line.startswith("Length 0:0") for line in read)  # m:ss, not "2.3 s"
    (download,) = app.get("link_button")  # streamed by the audio route (tests/test_audio_route.py)
    assert download.proto.label == "Download the full file"
    assert download.proto.url == f"/narration-desk/audio/story/{row_id}?download=1"
    saved = full_file("story", row_id)  # the name the route gives the browser to save it under
    assert saved is not None and saved.download_name == f"the-lighthouse-keeper-s-cat-story-{row_id}.wav"
    assert labels(app).count("Retry") == 0 and "Cancel" not in labels(app)  # nothing to retry or cancel
    assert "Delete" not in labels(app)  # staff: no delete at all


def test_a_cancelled_narration_reads_cancelled_and_offers_retry_not_cancel(db: str, redis: Redis) -> None:
    demo_data()
    row_id = submit(Request(kind="scene", target_id=2, prompt="A cat by the lamp.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", row_id)
    app = open_narration(staff_user(role=Role.SUPERUSER), "scene", row_id)

    read = _read(app)
    assert f"**Scene narration #{row_id}** · :orange-badge[:material/block: cancelled]" in read  # not red failed
    assert not app.error  # a cancel is not an error to act on
    assert "Cancelled before it finished." in read
    assert "Retry" in labels(app) and "Cancel" not in labels(app)
    assert "Delete" in labels(app)


def test_a_queued_narration_shows_its_place_in_line_and_no_delete_until_it_stops(db: str, redis: Redis) -> None:
    demo_data()
    ahead = submit(Request(kind="scene", target_id=1, prompt="A lighthouse.", priority=1, **LOCAL)).row_id
    row_id = submit(Request(kind="story", target_id=1, prompt="The lighthouse cat.", **LOCAL)).row_id
    app = open_narration(staff_user(role=Role.SUPERUSER), "story", row_id)

    read = _read(app)
    assert "Place in line: 2 (1 ahead of it). Estimated start: unknown, no worker is running." in read
    assert "Cancel" in labels(app) and "Retry" not in labels(app)
    assert "Delete" not in labels(app)
    assert "Delete is offered once it has stopped: cancel it first, or let it finish." in read

    later = open_narration(staff_user("planner"), "scene", ahead)
    with get_engine().begin() as connection:
        connection.execute(text("UPDATE tts_sceneaudio SET scheduled_at = now() + interval '3 hours'"))
    later.run()
    assert any(line.startswith("Waits until ") and line.endswith("; a worker starts it then.") for line in _read(later))


def test_delete_is_not_offered_while_a_replacement_is_on_the_way(db: str, redis: Redis) -> None:
    demo_data()
    first = submit(Request(kind="story", target_id=1, prompt="The lighthouse cat.", **LOCAL)).row_id
    synthesize("story", first)
    second = submit(Request(kind="story", target_id=1, prompt="Again.", replace=True, **LOCAL)).row_id
    app = open_narration(staff_user(role=Role.SUPERUSER), "story", first)
    assert "Delete" not in labels(app)
    assert (
        f"Delete is not offered: Narration #{first} is being replaced by #{second}, which is still queued; "
        f"cancel #{second} first, then delete #{first}."
    ) in _read(app)


def test_the_delete_dialog_says_what_goes(db: str, redis: Redis) -> None:
    demo_data()
    story = submit(Request(kind="story", target_id=1, prompt="The lighthouse cat.", **LOCAL)).row_id
    synthesize("story", story)
    scene = submit(Request(kind="scene", target_id=1, prompt="A lighthouse.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", scene)  # never narrated: no files yet

    assert actions.what_delete_removes("story", story) == (
        f"This deletes story narration #{story} for good: the row, its audio file and 1 passage file. "
        "It is the current narration of “The Lighthouse Keeper's Cat”: the story will then have no narration, "
        "and the storytelling app will show none until it is narrated again."
    )
    assert actions.what_delete_removes("scene", scene) == (
        f"This deletes scene narration #{scene} for good: the row, no audio file (it has none) and 0 passage files."
    )


def test_duplicate_with_changes_says_why_a_provider_cannot_be_used(db: str, redis: Redis) -> None:
    demo_data()
    row_id = submit(Request(kind="scene", target_id=1, prompt="A lighthouse.", **LOCAL)).row_id
    synthesize("scene", row_id)
    app = open_narration(staff_user(), "scene", row_id)
    app.selectbox(key=f"dup-scene-{row_id}-provider").set_value("openai").run()

    assert "OpenAI is not set up on this desk; ask an administrator." in texts(app, "warning")  # no setting name
    (copy,) = [b for b in app.button if b.label.startswith("Cannot submit")]
    assert copy.label == "Cannot submit: OpenAI is not set up" and copy.disabled
