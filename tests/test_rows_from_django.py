"""Rows the Django app queued are checked like a submission before anything is paid for."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db.engine import get_engine, new_session
from db.models import SceneAudio
from tests.fake_providers import FakeProviders
from workers.engine.jobs import synthesize


def _django_row(prompt: str, voice: str = "nova", output_format: str | None = None) -> int:
    """A queued OpenAI scene narration, inserted the way the Django ORM inserts it (its columns
    only; `output_format` is Narration Desk's, named only when a test needs it)."""
    with get_engine().begin() as connection:
        row_id = connection.execute(
            text(
                "INSERT INTO tts_sceneaudio (prompt, voice_style, provider, status, created_at, updated_at, "
                "image_id, output_format) VALUES (:prompt, :voice, 'openai', 'queued', now(), now(), 1, :fmt) "
                "RETURNING id"
            ),
            {"prompt": prompt, "voice": voice, "fmt": output_format},
        ).scalar_one()
    return int(row_id)


def _outcome(row_id: int) -> tuple[str, str | None]:
    with new_session() as session:
        row = session.get(SceneAudio, row_id)
        assert row is not None
        return row.status, row.error_message


@pytest.mark.parametrize(
    ("row", "sentence"),
    [
        ({"prompt": "A red door.", "output_format": "exe"}, "Unknown output format 'exe'; pick one of wav, mp3"),
        ({"prompt": "a" * 1_048_576}, "The text has 1,048,576 characters; the most one narration takes is 100,000"),
        ({"prompt": "\u200b \ufeff\u2060 \u200b"}, "The text is empty (or only spaces and invisible characters)"),
        ({"prompt": "A red door.", "voice": "nobody"}, "OpenAI tts-1 has no voice 'nobody'. Pick one"),
    ],
    ids=["unknown format", "a megabyte of text", "only invisible characters", "unknown voice"],
)
def test_a_bad_django_row_fails_at_once_and_costs_nothing(
    fake: FakeProviders, row: dict[str, str], sentence: str
) -> None:
    row_id = _django_row(**row)

    assert "failed" in synthesize("scene", row_id)

    status, error = _outcome(row_id)
    assert status == "failed"
    assert error is not None and error.startswith(sentence)
    assert fake.calls == []  # no request reached the provider


def test_a_good_django_row_reaches_the_provider(fake: FakeProviders) -> None:
    row_id = _django_row("A red door creaks open.")  # blank format and model: wav and tts-1

    assert "completed" in synthesize("scene", row_id)

    assert _outcome(row_id) == ("completed", None)
    assert len(fake.calls) == 1
