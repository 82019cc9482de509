"""A long story through each provider (60,000 characters; 4,100 for the local voice, which really
synthesizes): chunk limits, sentence boundaries, one joined file."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
import soundfile
from redis import Redis

from dashboard.views import load_view
from db.engine import new_session
from db.models import Chunk, StoryAudio
from db.settings import get_settings
from tests.factories import demo_data
from tests.fake_providers import FakeProviders
from tests.workers_env import LOCAL_VOICE, providers_on
from workers.engine import catalogue
from workers.engine.jobs import synthesize
from workers.service.submit import Request, submit

# Marked by hand, as the few tests slow by computing rather than by starting a process are: minutes of
# audio faked, split, mastered and joined, and the local voice synthesizing.
pytestmark = pytest.mark.slow

WORDS = [
    "lamp",
    "keeper",
    "harbour",
    "storm",
    "night",
    "ships",
    "light",
    "sea",
    "cat",
    "steps",
    "glass",
    "morning",
    "crew",
    "basket",
    "hill",
    "wind",
]


def long_story(characters: int, seed: int = 7) -> str:
    """Sentences of 4 to 30 words, with commas, until the text is `characters` long."""
    rng = random.Random(seed)
    sentences: list[str] = []
    length = 0
    while length < characters:
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 30))]
        for position in range(5, len(words), 7):
            words[position] += ","
        sentence = " ".join(words).capitalize().rstrip(",") + rng.choice([".", ".", "!", "?"])
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)[:characters].rsplit(" ", 1)[0].rstrip(",") + "."


@pytest.fixture
def fake(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProviders]:
    demo_data()
    with FakeProviders(seconds_per_char=0.01) as running, providers_on(running, monkeypatch):
        yield running


@pytest.mark.parametrize(
    ("provider", "model", "voice", "characters"),
    [
        ("openai", "tts-1", "nova", 60_000),
        ("elevenlabs", "eleven_multilingual_v2", "21m00Tcm4TlvDq8ikWAM", 60_000),
        # The local voice really synthesizes (about 5 min for 60,000 characters on 2 busy cores);
        # 4,100 characters are still three of its 2,000-character chunks to split, narrate and join.
        pytest.param("local", "piper:en_US-joe-medium", "joe", 4_100, marks=LOCAL_VOICE),
    ],
)
def test_a_long_story_becomes_one_file(
    fake: FakeProviders, provider: str, model: str, voice: str, characters: int, tmp_path: Path
) -> None:
    text = long_story(characters)
    assert characters - 1_000 < len(text) <= characters
    limit = catalogue.model(provider, model).max_chars  # type: ignore[union-attr]

    done = submit(Request(kind="story", target_id=1, prompt=text, provider=provider, model=model, voice=voice))
    outcome = synthesize("story", done.row_id)

    assert "completed" in outcome, outcome
    with new_session() as session:
        row = session.get(StoryAudio, done.row_id)
        assert row is not None and row.audio_file and row.duration_seconds
        chunks = session.query(Chunk).filter(Chunk.story_audio_id == row.id).order_by(Chunk.idx).all()
        metadata = row.audio_metadata or {}
    texts = [c.text for c in chunks]

    # Chunk limits respected, sentence boundaries kept, nothing lost or repeated.
    assert len(texts) >= -(-len(text) // limit)
    assert all(len(t) <= limit for t in texts)
    assert all(t[-1] in ".!?" for t in texts), [t[-20:] for t in texts if t[-1] not in ".!?"]
    assert " ".join(texts) == text
    if provider != "local":
        sent = [c.text for c in fake.calls if c.status == 200]
        assert sorted(sent) == sorted(texts)  # one paid request per chunk, no more
        assert max(len(c.text) for c in fake.calls) <= limit

    # One mastered file whose length is its chunks, less the edge silence trimmed from each, plus the
    # pauses between them and the profile's head and tail.
    path = get_settings().media_path / row.audio_file
    with soundfile.SoundFile(path) as audio:
        seconds = audio.frames / audio.samplerate
    mastered = metadata["mastering"]
    assert mastered["profile"] == "standard" and len(mastered["pauses"]) == len(chunks) - 1
    trimmed = sum(head + tail for head, tail in mastered["trimmed"])
    expected = (
        mastered["head_seconds"]
        + sum(c.seconds or 0.0 for c in chunks)
        - trimmed
        + sum(mastered["pauses"])
        + mastered["tail_seconds"]
    )
    assert seconds == pytest.approx(expected, abs=0.002 * len(chunks))  # metadata keeps milliseconds
    assert row.duration_seconds == pytest.approx(seconds, abs=1e-3)
    assert metadata["chunks"] == len(chunks)
    assert [round(c.seconds or 0.0, 3) for c in chunks] == metadata["chunk_seconds"]


def test_the_card_counts_chunks_while_a_long_narration_runs(fake: FakeProviders) -> None:
    text = long_story(9_000)
    done = submit(Request(kind="story", target_id=1, prompt=text, provider="openai", model="tts-1", voice="nova"))
    fake.fail_next("quota")  # one of the three parallel requests fails for good
    synthesize("story", done.row_id)
    view = load_view("story", done.row_id)
    # The others finish if they were already sent, or are not sent at all (the job stops before its
    # next request): which, depends on the threads' timing. Every passage the provider answered counts.
    answered = sum(c.status == 200 for c in fake.calls)
    assert answered < 3, "the failed request is not stored"
    assert view is not None and (view.chunks_done, view.chunks_total) == (answered, 3)
    assert view.status == "failed" and view.error_message and "quota exhausted" in view.error_message
