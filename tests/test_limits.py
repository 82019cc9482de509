"""The desk's limits at submit: queued narrations per person, scenes per bulk action, the budget."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis
from sqlalchemy import func, select

from db.engine import new_session
from db.models import SceneAudio, Status
from db.settings import get_settings
from tests.factories import LOCAL, billed, demo_data, staff_user
from workers.engine import budget
from workers.service.bulk import narrate_scenes
from workers.service.roles import SignedIn
from workers.service.submit import Refused, Request, submit

OPENAI = {"provider": "openai", "model": "tts-1", "voice": "nova"}  # $15 a million characters


@pytest.fixture
def editor(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[SignedIn]:
    demo_data()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used")  # submit only checks it is set
    get_settings.cache_clear()
    yield staff_user("editor")


def _setting(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    budget._spent.cache_clear()  # the month's spend is cached for a minute; these tests change it


def _scene(user: SignedIn, image_id: int = 1, text: str = "A red door.", voice: dict[str, str] = LOCAL) -> int:
    request = Request(kind="scene", target_id=image_id, prompt=text, user_id=user.user_id, **voice)  # type: ignore[arg-type]
    return submit(request).row_id


def _scene_rows() -> int:
    with new_session() as session:
        return session.scalar(select(func.count()).select_from(SceneAudio)) or 0


def test_a_person_may_have_up_to_the_cap_waiting_and_no_more(editor: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    _setting(monkeypatch, MAX_QUEUED_PER_USER="3")
    first = _scene(editor, 1)
    _scene(editor, 2)
    _scene(editor, 3)  # just under the cap: the third goes

    with pytest.raises(Refused, match=r"You have 3 narrations queued or running, the most one person may have "
                       r"waiting \(3\)\. Wait for some to finish, or cancel"):  # fmt: skip
        _scene(editor, 4)
    assert _scene_rows() == 3

    _scene(staff_user("colleague"), 4)  # the cap is per person
    with new_session() as session:
        session.query(SceneAudio).filter_by(id=first).update({"status": Status.COMPLETED})
        session.commit()
    _scene(editor, 4)  # a finished one frees its place
    assert _scene_rows() == 5


@pytest.mark.parametrize(("most", "queued", "left"), [(3, 3, 0), (2, 2, 1)])
def test_narrate_all_scenes_queues_at_most_the_bulk_size_and_says_what_is_left(
    editor: SignedIn, monkeypatch: pytest.MonkeyPatch, most: int, queued: int, left: int
) -> None:
    _setting(monkeypatch, MAX_BULK_ROWS=str(most))
    template = Request(kind="scene", target_id=0, prompt="", user_id=editor.user_id, **LOCAL)

    batch = narrate_scenes(1, template)  # the lighthouse story has 3 scene images

    assert len(batch.submitted) == queued
    assert ("Click again to queue the next ones" in batch.message) is bool(left)
    if left:
        assert f"{left} more scene(s) were not queued: one action queues at most {most} (MAX_BULK_ROWS)" in (
            batch.message
        )
        again = narrate_scenes(1, template)  # the next click takes the rest; the first ones are running
        assert len(again.submitted) == left and again.left == 0
    assert _scene_rows() == 3


@pytest.mark.parametrize(("characters", "refused"), [(6_000, False), (7_000, True)])
def test_a_paid_narration_past_the_budget_is_refused_when_asked(
    editor: SignedIn, monkeypatch: pytest.MonkeyPatch, characters: int, refused: bool
) -> None:
    billed(60_000)  # $0.90 of a $1 budget spent; 6,000 characters more cost $0.09, 7,000 cost $0.105
    _setting(monkeypatch, MONTHLY_BUDGET_USD="1", REFUSE_OVER_BUDGET="true")
    text = "x" * characters

    if refused:
        with pytest.raises(Refused, match=r"about \$1\.01, past the \$1\.00 budget .* Pick the local voice \(free\)"):
            _scene(editor, text=text, voice=OPENAI)
    else:
        _scene(editor, text=text, voice=OPENAI)
    _scene(editor, 2, text=text)  # the local voice costs nothing and always goes
    assert _scene_rows() == 2 + (not refused)


def test_without_refuse_over_budget_the_budget_only_warns(editor: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    billed(60_000)
    _setting(monkeypatch, MONTHLY_BUDGET_USD="1", REFUSE_OVER_BUDGET="false")
    _scene(editor, text="x" * 7_000, voice=OPENAI)
    assert _scene_rows() == 2


def test_a_bulk_action_is_priced_as_a_whole(editor: SignedIn, monkeypatch: pytest.MonkeyPatch) -> None:
    billed(66_540)  # $0.9981 (on image 1, so that scene counts as narrated): each other caption ($0.0013)
    # would fit alone, the two together ($0.0024) would not
    _setting(monkeypatch, MONTHLY_BUDGET_USD="1", REFUSE_OVER_BUDGET="true")
    template = Request(kind="scene", target_id=0, prompt="", user_id=editor.user_id, **OPENAI)  # type: ignore[arg-type]

    with pytest.raises(Refused, match=r"These 2 scenes cost about \$0\.00 together\. This would take the month"):
        narrate_scenes(1, template)
    assert _scene_rows() == 1  # only the billed row

    _scene(editor, 2, text="A red door creaks open.", voice=OPENAI)  # one alone fits
    assert _scene_rows() == 2
