"""The ElevenLabs account's own voices: listed through the official SDK from the HTTP-level fake,
offered in compose by name beside the catalogue's defaults, refreshed on demand; a voice removed
from the account is flagged in compose and on the rows that name it, and refused before any paid
request. Real PostgreSQL and Redis."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from dashboard.labels import voice
from dashboard.session import KEY
from db.engine import new_session
from db.models import StoryAudio
from tests.apptest import APP, button, open_narration, selectbox
from tests.factories import staff_user
from tests.fake_providers import CLONED, FakeProviders, account_voice
from workers.engine import account_voices
from workers.engine.jobs import synthesize
from workers.service.submit import Refused, Request, submit

DESIGNED = account_voice("d3signedClockVoice01", "Grandfather Clock", "generated", age="old")


def _compose() -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[KEY] = staff_user("editor")
    app.run()
    app.switch_page("pages/compose.py").run()
    selectbox(app, "Provider").set_value("elevenlabs").run()
    assert not app.exception
    return app


def test_a_voice_added_to_the_account_appears_after_a_refresh(fake: FakeProviders) -> None:
    app = _compose()
    offered = selectbox(app, "Voice").options
    assert offered[0] == "Aoife (cloned) · cloned · irish, female"  # the account's own, first
    assert any(name.startswith("Rachel") for name in offered)  # beside the catalogue's defaults
    assert DESIGNED["name"] not in " ".join(offered)

    fake.account_voices.append(DESIGNED)  # designed in the account's studio meanwhile
    app.run()
    assert DESIGNED["name"] not in " ".join(selectbox(app, "Voice").options)  # the kept list, until…
    button(app, "Refresh the account's voices").click().run()
    assert "Grandfather Clock · generated · old" in selectbox(app, "Voice").options
    assert fake.voice_listings == 2  # listed once at first, once on the refresh: never per run


def test_a_voice_removed_from_the_account_is_flagged_before_any_request(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    asked = Request(
        kind="story", target_id=1, prompt="Miso sat by the lamp.", provider="elevenlabs", model="eleven_flash_v2_5",
        voice=CLONED["voice_id"],
    )  # fmt: skip
    row_id = submit(asked).row_id  # the account has it: accepted
    assert voice("elevenlabs", CLONED["voice_id"]) == "Aoife (cloned)"

    fake.account_voices.remove(CLONED)  # deleted in the account's studio
    account_voices.refresh()
    assert voice("elevenlabs", CLONED["voice_id"]) == f"{CLONED['voice_id']} (not in the account)"
    card = open_narration(editor, "story", row_id)
    assert any("is no longer in the ElevenLabs account" in w.value for w in card.warning)

    assert "failed" in synthesize("story", row_id)
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and row.error_message is not None
        assert "is no longer in the account" in row.error_message
    assert fake.calls_for("Miso sat by the lamp", "elevenlabs") == []  # nothing was sent, nothing paid
    try:
        submit(asked)
    except Refused as refused:
        assert "no longer in the account" in str(refused)
    else:
        raise AssertionError("a voice that left the account was accepted")
