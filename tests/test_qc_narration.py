"""The narration page's quality chart and "Re-narrate the flagged passages": the chart's data from a
real narration (fake OpenAI returning two passages much quieter), from metadata in shapes we never
write, a click on a point, and the action queueing exactly the flagged passages in one redo while
the row stays completed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select, text

from dashboard import qc_chart
from db.engine import new_session
from db.models import Chunk, StoryAudio
from db.narrations import STORY
from tests.apptest import button, labels, open_narration, texts
from tests.factories import demo_data, staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.workers_env import providers_on
from workers.engine import catalogue
from workers.engine.chunking import split
from workers.engine.jobs import synthesize
from workers.service.roles import Role
from workers.service.submit import Request, submit

OPENAI: dict[str, Any] = {"provider": "openai", "model": "tts-1", "voice": "nova"}


def test_the_chart_reads_only_what_is_shaped_as_qc_writes_it() -> None:
    metadata = {
        "qc": {
            "passages": [
                {"index": 0, "loudness_lufs": -20.5, "speaking_rate_cps": 14.2, "flags": []},
                {"index": 1, "loudness_lufs": -41.0, "speaking_rate_cps": 14.0, "flags": ["20.5 LU quieter", 3]},
                {"index": 1, "loudness_lufs": 0.0, "flags": ["a second passage 2"]},  # the first one counts
                {"index": 2, "loudness_lufs": "loud", "speaking_rate_cps": True, "flags": "clips"},
                {"index": 9, "flags": ["no such passage"]},
                {"index": "0"},
                "a passage",
            ]
        }
    }

    found = qc_chart.points(metadata, [0.0, 12.4, 25.0])

    assert found == [
        qc_chart.PassagePoint(1, -20.5, 14.2, (), 0.0),
        qc_chart.PassagePoint(2, -41.0, 14.0, ("20.5 LU quieter",), 12.4),
        qc_chart.PassagePoint(3, None, None, (), 25.0),
    ]
    drawn = qc_chart.frame(found)
    flagged = drawn[drawn["state"] == "flagged"]
    assert set(flagged["passage"]) == {2} and set(flagged["flags"]) == {"20.5 LU quieter"}
    assert list(drawn[drawn["passage"] == 2]["starts at"]) == ["0:12", "0:12"]
    assert qc_chart.chart(found).to_dict()["params"][0]["name"] == qc_chart.PICK
    odd: list[dict[str, Any]] = [{}, {"qc": None}, {"qc": "later"}, {"qc": {"passages": {"0": {}}}}]
    for shape in odd:
        assert qc_chart.points(shape, [0.0]) == []
    assert qc_chart.picked({qc_chart.PICK: [{"passage": 2}]}) == 2
    assert qc_chart.picked({qc_chart.PICK: []}) is None and qc_chart.picked({qc_chart.PICK: "2"}) is None


@pytest.fixture
def flagged_story(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, FakeProviders]]:
    """A completed story of five passages whose second and fourth came back 20 dB quieter: flagged."""
    demo_data()
    story = long_story(19_000)
    planned = split(story, catalogue.model("openai", "tts-1").max_chars)  # type: ignore[union-attr]
    assert len(planned) == 5
    with FakeProviders(seconds_per_char=0.002) as fake, providers_on(fake, monkeypatch):
        fake.quieter.update({planned[1]: 20.0, planned[3]: 20.0})
        # Raw: kept as the provider sent it (mastering would even the two passages out), so QC flags them
        row_id = submit(Request(kind="story", target_id=1, prompt=story, mastering="raw", **OPENAI)).row_id
        assert "completed" in synthesize("story", row_id)
        yield row_id, fake


def _redoing(row_id: int) -> list[int]:
    with new_session() as session:
        return list(
            session.scalars(
                select(Chunk.idx).where(STORY.owns(row_id), Chunk.redo_state.is_not(None)).order_by(Chunk.idx)
            )
        )


def _flags(row_id: int) -> list[bool]:
    with new_session() as session:
        row = session.get_one(StoryAudio, row_id)
        return [bool(p["flags"]) for p in (row.audio_metadata or {})["qc"]["passages"]]


def test_re_narrating_the_flagged_passages_redoes_exactly_those_in_one_redo(
    flagged_story: tuple[int, FakeProviders],
) -> None:
    row_id, fake = flagged_story
    assert _flags(row_id) == [False, True, False, True, False]
    editor = staff_user()
    app = open_narration(editor, "story", row_id)

    charts = app.get("vega_lite_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    assert spec["params"][0]["name"] == qc_chart.PICK
    said = texts(app, "caption")
    assert any("2 flagged (red diamonds" in line for line in said)
    with new_session() as session:
        chunks = list(session.scalars(select(Chunk).where(STORY.owns(row_id)).order_by(Chunk.idx)))
    characters = len(chunks[1].text) + len(chunks[3].text)
    cost = catalogue.estimated_cost_usd(catalogue.model("openai", "tts-1"), characters)  # type: ignore[arg-type]
    assert f"Passages 2, 4: {characters:,} characters, about ${cost:.4f}." in " ".join(said)

    button(app, "Re-narrate the 2 flagged passages").click().run()
    assert not app.exception
    assert any(
        line.startswith(f"Queued 2 passages (2, 4) of story narration #{row_id} again") for line in texts(app, "info")
    )
    assert _redoing(row_id) == [1, 3]  # only the flagged ones, in one redo
    with new_session() as session:
        assert session.get_one(StoryAudio, row_id).status == "completed"  # still plays what it had
    assert not any(label.startswith("Re-narrate") for label in labels(app))  # not offered twice meanwhile
    assert "Passages 2, 4 are being narrated again; this audio plays until the new one is ready." in texts(app, "info")

    fake.quieter.clear()  # the provider now returns them at their usual level
    before = len(fake.calls)
    assert "redo completed" in synthesize("story", row_id)
    assert [call.text for call in fake.calls[before:]] == [chunks[1].text, chunks[3].text]  # no other paid for
    assert _flags(row_id) == [False] * 5


def test_viewers_see_the_chart_but_no_action_and_odd_metadata_never_breaks_the_page(
    flagged_story: tuple[int, FakeProviders],
) -> None:
    row_id, _ = flagged_story
    viewer = staff_user("viewer", role=Role.VIEWER)
    app = open_narration(viewer, "story", row_id)
    assert len(app.get("vega_lite_chart")) == 1
    assert not any(label.startswith("Re-narrate") for label in labels(app))

    odd = {"qc": {"narration": {"loudness_lufs": "loud"}, "verdict": {"passed": 1, "failures": "x"}, "passages": 3}}
    with new_session() as session:
        session.execute(
            text("UPDATE tts_storyaudio SET audio_metadata = CAST(:m AS jsonb) WHERE id = :id"),
            {"m": json.dumps(odd), "id": row_id},
        )
        session.commit()
    app = open_narration(staff_user(), "story", row_id)
    assert not app.exception
    assert len(app.get("vega_lite_chart")) == 0  # nothing to draw, and nothing to re-narrate
    assert not any(label.startswith("Re-narrate") for label in labels(app))
    assert any("not in the form this desk writes" in line for line in texts(app, "caption"))
