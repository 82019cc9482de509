"""Every action checks the role in the service layer against `auth_user` as it is now, not against
the `SignedIn` a page holds (which may be up to 30 s old). Accounts are changed by raw SQL, as the
Django admin would; rows are real, on PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine, new_session
from db.library import Filters
from db.lifecycle import cancel
from db.models import SceneAudio, User
from db.settings import get_settings
from db.users import add_to_group
from tests.factories import LOCAL, demo_data, staff_user
from workers.engine.jobs import synthesize
from workers.service import actions
from workers.service.bulk import narrate_scenes
from workers.service.roles import Role, SignedIn
from workers.service.submit import Refused, Request, submit


@dataclass(frozen=True)
class Rows:
    done: int  # completed, with its passage on disk
    failed: int
    queued: int


def _rows() -> Rows:
    """One scene narration in each state an action works on."""
    done = submit(Request(kind="scene", target_id=1, prompt="A lighthouse at dusk.", **LOCAL)).row_id
    synthesize("scene", done)
    failed = submit(Request(kind="scene", target_id=2, prompt="A cat by the lamp.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", failed)
    queued = submit(Request(kind="scene", target_id=3, prompt="Rain on the roof.", **LOCAL)).row_id
    return Rows(done, failed, queued)


def _sql(statement: str, username: str) -> None:
    """What an administrator does in the Django admin: it writes `auth_user`, not our models."""
    with get_engine().begin() as connection:
        connection.execute(text(statement), {"username": username})


def _everything() -> tuple[object, ...]:
    """What an action could change: every narration row, every passage, every file in the media folder."""
    columns = "id, status, prompt, updated_at, updated_by_id, task_id"
    with get_engine().connect() as connection:
        narrations = connection.execute(
            text(
                f"SELECT 'story', {columns} FROM tts_storyaudio UNION ALL SELECT 'scene', {columns} FROM tts_sceneaudio"
            )
        ).all()
        passages = connection.execute(text("SELECT id, status, text, audio_path FROM tts_chunk")).all()
    files = sorted(str(p) for p in get_settings().media_path.rglob("*") if p.is_file())
    return sorted(narrations), sorted(passages), files


def _refused(call: Callable[[], object]) -> str:
    """Submit and bulk raise Refused; the others answer with a sentence."""
    try:
        said = call()
    except Refused as refusal:
        return str(refusal)
    return str(said)


def _actions(user: SignedIn, rows: Rows) -> dict[str, Callable[[], object]]:
    """Each action a page offers, as the page calls it."""
    template = Request(kind="scene", target_id=1, prompt="x", user_id=user.user_id, **LOCAL)
    return {
        "submit": lambda: submit(
            Request(kind="scene", target_id=4, prompt="A new scene.", user_id=user.user_id, **LOCAL)
        ),
        "duplicate": lambda: submit(
            Request(kind="scene", target_id=1, prompt="The lighthouse again.", user_id=user.user_id, **LOCAL)
        ),
        "bulk": lambda: narrate_scenes(1, template, redo_completed=True),
        "cancel": lambda: actions.cancel("scene", rows.queued, user),
        "cancel all": lambda: actions.cancel_matching(Filters(), user),
        "retry": lambda: actions.retry("scene", rows.failed, user),
        "retry all": lambda: actions.retry_matching(Filters(), user),
        "redo a passage": lambda: actions.redo_chunk("scene", rows.done, 0, "A lighthouse at night.", user),
    }


@pytest.fixture
def rows(db: str, redis: Redis) -> Rows:
    demo_data()
    return _rows()


@pytest.mark.parametrize("change", ["UPDATE auth_user SET is_staff = false", "UPDATE auth_user SET is_active = false"])
def test_an_account_demoted_or_deactivated_since_the_page_loaded_changes_nothing(rows: Rows, change: str) -> None:
    stale = staff_user("editor")  # the page still holds this: staff
    _sql(change + " WHERE username = :username", "editor")
    before = _everything()
    for name, call in _actions(stale, rows).items():
        said = _refused(call)
        assert said.startswith("Your account may no longer use Narration Desk"), (name, said)
        assert "Ask an administrator" in said
    assert _everything() == before  # no status changed, no row added, no file touched


def test_a_former_staff_member_now_a_viewer_is_told_only_staff_may(rows: Rows) -> None:
    stale = staff_user("editor")
    with new_session() as session, session.begin():
        add_to_group(session, session.get_one(User, stale.user_id), get_settings().viewer_group)
    _sql("UPDATE auth_user SET is_staff = false WHERE username = :username", "editor")
    before = _everything()
    assert actions.retry("scene", rows.failed, stale) == "Only staff can retry narrations."
    with pytest.raises(Refused, match="Only staff can submit narrations"):
        submit(Request(kind="scene", target_id=4, prompt="A new scene.", user_id=stale.user_id, **LOCAL))
    assert _everything() == before


def test_the_same_actions_work_for_a_current_staff_member(rows: Rows) -> None:
    editor = staff_user("editor")
    for name, call in _actions(editor, rows).items():
        said = _refused(call)
        assert not said.startswith(("Your account", "Only")), (name, said)
    with new_session() as session:
        assert session.get_one(SceneAudio, rows.failed).status == "queued"  # retried
        assert session.query(SceneAudio).filter_by(image_id=4).count() == 1  # submitted


def test_a_deactivated_superuser_cannot_delete(rows: Rows) -> None:
    admin = staff_user("root", role=Role.SUPERUSER)
    editor = staff_user("editor")
    assert actions.delete("scene", rows.done, editor) == "Only superusers can delete narrations."
    _sql("UPDATE auth_user SET is_active = false WHERE username = :username", "root")
    before = _everything()
    assert actions.delete("scene", rows.done, admin).startswith("Your account may no longer use Narration Desk")
    assert _everything() == before
    _sql("UPDATE auth_user SET is_active = true WHERE username = :username", "root")
    assert actions.delete("scene", rows.done, admin).startswith(f"Deleted scene narration #{rows.done}")
