"""Every narration of a story names it and its project, however many times it was replaced, until
the story itself is deleted; an upgraded database learns the same from its replacement chains."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from dashboard.views import load_detail
from db.engine import get_engine, new_session
from db.library import Filters, page
from db.models import Story, StoryAudio
from db.narrations import story_narration
from db.upgrade import alembic_config, upgrade
from tests.factories import django_rows, load_django_schema
from tests.fake_providers import FakeProviders
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize
from workers.service.submit import Request, submit


def _told(words: str, *, replace: bool) -> int:
    row_id = submit(Request(kind="story", target_id=1, prompt=words, replace=replace, **OPENAI)).row_id
    assert "completed" in synthesize("story", row_id)
    return row_id


def _subjects(ids: list[int]) -> list[tuple[str, str | None]]:
    details = [load_detail("story", row_id) for row_id in ids]
    return [(d.subject, d.project) for d in details if d is not None]


def test_a_chain_of_replacements_keeps_its_story_and_project_until_the_story_is_deleted(fake: FakeProviders) -> None:
    a = _told("The first telling.", replace=False)
    b = _told("The second telling.", replace=True)
    c = _told("The third telling.", replace=True)
    with new_session() as session:
        story = session.get(Story, 1)
        assert story is not None and story.project is not None
        title, project = story.title, story.project.name
        assert story_narration(session, 1).id == c  # type: ignore[union-attr]
        assert [session.get(StoryAudio, i).story_id for i in (a, b)] == [None, None]  # type: ignore[union-attr]
        rows, total = page(session, Filters(story_id=1))
        in_project, _ = page(session, Filters(project_id=story.project_id, search="telling"))

    assert _subjects([a, b, c]) == [(f"story “{title}” (#1)", project)] * 3
    assert total == 3 and sorted(r.id for r in rows) == [a, b, c]  # the story's filter lists its history
    assert {r.title for r in rows} == {title}
    assert sorted(r.id for r in in_project) == [a, b, c]

    with get_engine().begin() as connection:  # as the Django admin deletes a story and its images
        connection.execute(text("DELETE FROM images_image WHERE story_id = 1"))
        connection.execute(text("DELETE FROM story_story WHERE id = 1"))
    assert _subjects([a, b, c]) == [("a story that was deleted", None)] * 3
    with new_session() as session:
        assert page(session, Filters(story_id=1))[1] == 0


def test_upgrade_names_the_story_of_every_narration_of_an_existing_chain(empty_db: str) -> None:
    with get_engine().begin() as connection:
        load_django_schema(connection)
        django_rows(connection)
    with get_engine().connect() as connection:
        command.upgrade(alembic_config(connection), "0008")
        # Story 1's narration #1 was replaced by #3, which #4 replaced; #5 is replacing #4 right now.
        connection.execute(
            text(
                """
                INSERT INTO tts_storyaudio (id, prompt, provider, status, model_backend, tags, created_at, updated_at,
                                            story_id, replaces_id)
                OVERRIDING SYSTEM VALUE
                VALUES (3, 'Again.', 'openai', 'completed', 'tts-1', '{}', now(), now(), NULL, 1),
                       (4, 'Once more.', 'openai', 'completed', 'tts-1', '{}', now(), now(), NULL, 3),
                       (5, 'And again.', 'openai', 'queued', 'tts-1', '{}', now(), now(), NULL, 4);
                UPDATE tts_storyaudio SET story_id = NULL WHERE id = 1;
                UPDATE tts_storyaudio SET story_id = 1 WHERE id = 4;
                SELECT setval(pg_get_serial_sequence('tts_storyaudio', 'id'), 5);
                """
            )
        )
        connection.commit()

    upgrade()

    with get_engine().begin() as connection:
        rows = connection.execute(text("SELECT id, narrated_story_id FROM tts_storyaudio")).all()
        named: dict[int, int | None] = {row_id: story_id for row_id, story_id in rows}
        # A row the Django app inserts afterwards names only its own columns; the trigger fills ours.
        connection.execute(
            text(
                "INSERT INTO tts_storyaudio (prompt, provider, status, model_backend, tags, created_at, updated_at, "
                "story_id) VALUES ('New.', 'openai', 'queued', 'tts-1', '{}', now(), now(), 3)"
            )
        )
        django = connection.execute(text("SELECT narrated_story_id FROM tts_storyaudio WHERE prompt = 'New.'"))
        assert django.scalar_one() == 3
    assert named == {1: 1, 2: 2, 3: 1, 4: 1, 5: 1}
