"""The route that plays and downloads a narration's whole file: Range requests answered from disk,
and nothing (neither bytes nor the stored path) for anyone the session cookie does not sign in."""

from __future__ import annotations

import pytest
import soundfile
from redis import Redis
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard import labels
from dashboard.audio_route import ROUTES, audio_path
from dashboard.views import load_detail, starts
from db.engine import new_session
from db.models import StoryAudio, User
from db.settings import get_settings
from db.users import create_user
from tests.apptest import open_narration
from tests.factories import LOCAL, demo_data, staff_user
from tests.test_long_text import long_story
from tests.test_media_paths import CASES, good, plant, story_row
from tests.workers_env import narrated_by_fake
from workers.engine.jobs import synthesize
from workers.engine.mastering import PROFILES
from workers.service import sessions
from workers.service.roles import Role, SignedIn
from workers.service.submit import Request, submit


def _client(user: SignedIn | None) -> TestClient:
    """A browser holding `user`'s session cookie (None: not signed in)."""
    client = TestClient(Starlette(routes=ROUTES))
    if user is not None:
        started = sessions.start(user)
        assert started is not None
        client.cookies.set(sessions.COOKIE, started.token)
    return client


@pytest.fixture
def viewer(db: str, redis: Redis) -> TestClient:
    return _client(staff_user("reader", role=Role.VIEWER))


def test_a_viewer_hears_the_whole_file_and_downloads_it_named_after_the_story(db: str, redis: Redis) -> None:
    demo_data()
    row_id = submit(Request(kind="story", target_id=1, prompt="The lighthouse cat.", **LOCAL)).row_id
    synthesize("story", row_id)
    client = _client(staff_user("reader", role=Role.VIEWER))
    played = client.get(audio_path("story", row_id))
    assert played.status_code == 200 and played.headers["content-type"] == "audio/wav"
    assert played.content[:4] == b"RIFF" and int(played.headers["content-length"]) == len(played.content) > 10_000
    assert played.headers["accept-ranges"] == "bytes" and "content-disposition" not in played.headers
    saved = client.get(audio_path("story", row_id, download=True))
    assert saved.content == played.content
    assert saved.headers["content-disposition"] == (
        f'attachment; filename="the-lighthouse-keeper-s-cat-story-{row_id}.wav"'
    )


def test_a_range_request_gets_exactly_those_bytes(viewer: TestClient) -> None:
    fine = good("tts/story/story-1-range.wav")
    url = audio_path("story", story_row(fine.stored))
    size = len(fine.data)

    part = viewer.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == fine.data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{size}" and part.headers["content-length"] == "100"
    assert part.headers["content-type"] == "audio/wav"

    tail = viewer.get(url, headers={"Range": "bytes=-50"})  # the last 50 bytes, as a player asks for a WAV's end
    assert tail.status_code == 206 and tail.content == fine.data[-50:]
    assert tail.headers["content-range"] == f"bytes {size - 50}-{size - 1}/{size}"

    past = viewer.get(url, headers={"Range": f"bytes={size + 10}-{size + 20}"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    assert fine.data[:100] not in past.content


def test_nobody_without_a_live_session_gets_a_byte(db: str, redis: Redis) -> None:
    fine = good("tts/story/story-1-private.wav")
    url = audio_path("story", story_row(fine.stored))
    for client in (_client(None), TestClient(Starlette(routes=ROUTES), cookies={sessions.COOKIE: "made-up"})):
        answer = client.get(url)
        assert answer.status_code == 401 and "Sign in" in answer.text and fine.data[:64] not in answer.content

    reader = _client(staff_user("reader", role=Role.VIEWER))
    assert reader.get(url).status_code == 200
    sessions.end(reader.cookies[sessions.COOKIE])  # signed out (in any tab of that browser)
    answer = reader.get(url)
    assert answer.status_code == 401 and fine.data[:64] not in answer.content

    editor = staff_user("editor")
    signed_in = _client(editor)
    assert signed_in.get(url).status_code == 200
    with new_session() as session, session.begin():  # an administrator deactivates it in the Django app
        session.execute(update(User).where(User.id == editor.user_id).values(is_active=False))
    answer = signed_in.get(url)
    assert answer.status_code == 401 and fine.data[:64] not in answer.content


def test_a_customer_gets_nothing(db: str, redis: Redis) -> None:
    fine = good("tts/story/story-1-staff-only.wav")
    url = audio_path("story", story_row(fine.stored))
    with new_session() as session:
        customer = create_user(session, username="listener", password="a long enough secret", staff=False)
        who = SignedIn(customer.id, customer.username, Role.VIEWER)  # what a forged sign-in would claim
    answer = _client(who).get(url)
    assert answer.status_code == 401 and fine.data[:64] not in answer.content


@pytest.mark.parametrize("case", CASES)
def test_a_stored_path_outside_the_media_root_is_not_served(viewer: TestClient, case: str) -> None:
    bad = plant(case, "audio")
    answer = viewer.get(audio_path("story", story_row(bad.stored)))
    assert answer.status_code == 403 and answer.text.startswith("This row's audio path ")
    assert bad.data[:64] not in answer.content and bad.stored not in answer.text
    assert bad.untouched()


def test_an_unknown_row_a_missing_file_or_a_bad_address_is_not_found(viewer: TestClient) -> None:
    missing = story_row("tts/story/never-written.wav")
    unknown, wrong_kind = audio_path("story", 999_999), audio_path("poem", 1)
    for url in (unknown, audio_path("story", missing), wrong_kind, "/narration-desk/audio/story/../../x"):
        answer = viewer.get(url)
        assert answer.status_code == 404 and "tts/story" not in answer.text


def test_the_passage_list_says_where_each_passage_starts_in_the_full_file(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_id = narrated_by_fake(long_story(10_000), monkeypatch, seconds_per_char=0.002)
    detail = load_detail("story", row_id)
    assert detail is not None and len(detail.chunks) >= 3
    begun = starts(detail)

    # Heard in the file itself: the fake's tone starts at each start, after the silence between passages.
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.audio_file
    samples, rate = soundfile.read(get_settings().media_path / row.audio_file, dtype="int16")
    assert begun[0] == PROFILES["standard"].head_seconds  # after the head the profile leaves
    for at in begun[1:]:
        assert at is not None
        frame = round(at * rate)
        assert not samples[frame - round(0.3 * rate) : frame - 2].any()  # the pause before it
        assert abs(samples[frame + 2 : frame + rate // 20]).max() > 1000  # the passage itself
    assert begun[-1] is not None and detail.chunks[-1].seconds is not None
    tail = PROFILES["standard"].tail_seconds
    assert len(samples) / rate == pytest.approx(begun[-1] + detail.chunks[-1].seconds + tail, abs=2 / rate)

    page = open_narration(staff_user(), "story", row_id)
    (passages,) = [frame.value for frame in page.dataframe if "starts at" in frame.value.columns]
    assert list(passages["starts at"]) == [labels.length(at) for at in begun]
    assert list(passages["starts at"])[:1] == ["0:00"] and list(passages["starts at"])[-1] != "0:00"
