"""The pronunciation lexicon: a term in the text reaches the provider respelled (whole words, any
case, punctuation around it); changing an entry marks exactly the completed narrations that hold
it, with the passages that do; narrating those again pays only for those passages; compose shows
what the lexicon changes and counts it. Real PostgreSQL and Redis, the fake OpenAI at the HTTP level."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from dashboard.plain import md
from dashboard.session import KEY
from db import lexicon
from db.engine import new_session
from db.models import Chunk, LexiconMark, NarrationLexicon, Story, StoryAudio
from tests.apptest import APP, selectbox
from tests.factories import staff_user
from tests.fake_providers import FakeProviders
from tests.test_long_text import long_story
from tests.test_redo import happened
from tests.test_reliability import OPENAI
from workers.engine.jobs import synthesize
from workers.engine.pronounce import Lexicon
from workers.service.lexicon import renarrate, save_entry
from workers.service.submit import Request, submit

AOIFE = lexicon.Entry(1, "Aoife", "EE-fa", 1)
DEMO_PROJECT = 1


def test_terms_match_whole_words_in_any_case_and_take_the_matchs_capital() -> None:
    said = Lexicon([AOIFE, lexicon.Entry(2, "Ní Bhriain", "nee VREE-an", 1), lexicon.Entry(3, "Ní", "nee", 1)])
    assert (
        said.apply("Aoife's lamp; (aoife), AOIFE! Aoifeen stayed.") == "EE-fa's lamp; (EE-fa), EE-FA! Aoifeen stayed."
    )
    assert said.apply("Dr. Ní Bhriain and Ní.") == "Dr. Nee VREE-an and Nee."  # the longer term first
    assert said.apply("nothing here") == "nothing here" and said.growth("Aoife") == 0


def _story(prompt: str, target: int = 1) -> int:
    row_id = submit(Request(kind="story", target_id=target, prompt=prompt, **OPENAI)).row_id
    assert "completed" in synthesize("story", row_id)
    return row_id


def _passages_with(row_id: int, word: str) -> list[int]:
    with new_session() as session:
        texts = session.execute(select(Chunk.idx, Chunk.text).where(Chunk.story_audio_id == row_id)).all()
    return sorted(idx for idx, text in texts if word in text)


def test_a_term_reaches_the_provider_respelled_and_the_narration_records_its_entry(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    assert save_entry(None, "Aoife", "EE-fa", editor).startswith("Saved “Aoife” → “EE-fa”. No completed narration")
    row_id = _story("Aoife lit the lamp. Then aoife's cat, Miso, climbed the steps (Aoife smiled).")
    sent = " ".join(call.text for call in fake.calls if call.provider == "openai")
    assert "EE-fa lit the lamp" in sent and "Then EE-fa's cat" in sent and "(EE-fa smiled)" in sent
    assert "aoife" not in sent.lower()
    with new_session() as session:
        row = session.get(StoryAudio, row_id)
        assert row is not None and "Aoife lit the lamp" in row.prompt  # the text itself stays as written
        assert session.scalars(select(NarrationLexicon.version)).all() == [1]
    assert "lexicon_applied" in happened(row_id)


def test_changing_an_entry_marks_exactly_the_narrations_that_hold_it_and_renarrating_pays_only_those_passages(
    fake: FakeProviders,
) -> None:
    editor = staff_user("editor")
    save_entry(None, "Aoife", "EE-fa", editor)
    text = long_story(9_000)
    middle = text.index(" ", 4_500)
    holding = _story(text[:middle] + " Aoife waved." + text[middle:])  # three passages, the term in one
    wordy = _story("Aoifeen is another name altogether.", target=2)  # not the whole word
    plain = _story("The keeper climbed the stairs.", target=3)
    affected = _passages_with(holding, "Aoife")
    assert len(affected) == 1

    said = save_entry(None, "aoife", "EE-feh", editor)  # the same term, any case: the entry changes
    assert said.startswith("Saved “aoife” → “EE-feh”. 1 completed narration holds it")
    with new_session() as session:
        marks = session.execute(select(LexiconMark.narration_id, LexiconMark.passages)).all()
        assert [(row_id, list(passages)) for row_id, passages in marks] == [(holding, affected)]
        (marked,) = lexicon.marks(session)
    assert {wordy, plain}.isdisjoint({m for m, _ in marks})

    before = len(fake.calls)
    assert renarrate(marked, editor).startswith(f"Queued 1 passage ({affected[0] + 1}) of story narration #{holding}")
    assert "redo completed" in synthesize("story", holding)
    again = fake.calls[before:]
    assert len(again) == 1 and "EE-feh waved" in again[0].text  # that passage alone, in the new respelling
    with new_session() as session:
        assert lexicon.marks(session) == []  # answered: the mark is cleared
        assert session.scalars(
            select(NarrationLexicon.version).where(NarrationLexicon.narration_id == holding)
        ).all() == [2]


def test_compose_shows_what_the_lexicon_changes_and_counts_the_changed_text(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    save_entry(None, "Miso", "MEE-so the cat", editor)
    app = AppTest.from_file(APP, default_timeout=60)
    app.session_state[KEY] = editor
    app.run()
    app.switch_page("pages/compose.py").run()
    selectbox(app, "Story").set_value(1).run()  # the lighthouse story: "Miso the cat climbed…"
    prompt = str(next(t for t in app.text_area if t.label == "Text to narrate").value)
    assert "Miso" in prompt
    assert any(f":orange-background[Miso] → {md('MEE-so the cat')}" in m.value for m in app.markdown)
    counted = {m.label: m.value for m in app.metric}["Characters"]
    assert counted == f"{len(Lexicon([lexicon.Entry(1, 'Miso', 'MEE-so the cat', 1)]).apply(prompt)):,}"
    assert int(counted.replace(",", "")) > len(prompt)


def test_an_ipa_entry_goes_as_a_pronunciation_dictionary_where_the_model_takes_one(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    save_entry(None, "Aoife", "EE-fa", editor, ipa="ˈiːfə")
    flash_v2 = {"provider": "elevenlabs", "model": "eleven_flash_v2", "voice": "21m00Tcm4TlvDq8ikWAM"}
    told = "Aoife lit the lamp."
    first = submit(Request(kind="story", target_id=1, prompt=told, **flash_v2)).row_id  # type: ignore[arg-type]
    assert "completed" in synthesize("story", first)
    (sent,) = [c for c in fake.calls if c.provider == "elevenlabs"]
    assert sent.text == told  # the term as written: the dictionary says it
    (locator,) = sent.params["pronunciation_dictionary_locators"]
    rules = fake.dictionaries[locator["pronunciation_dictionary_id"]]
    assert [(r["string_to_replace"], r["phoneme"], r["alphabet"]) for r in rules] == [("Aoife", "ˈiːfə", "ipa")]

    second = submit(Request(kind="scene", target_id=1, prompt="Aoife slept.", **flash_v2)).row_id  # type: ignore[arg-type]
    assert "completed" in synthesize("scene", second)
    assert len(fake.dictionaries) == 1  # made once, then named again

    flash_v2_5 = {**flash_v2, "model": "eleven_flash_v2_5"}  # takes no phoneme rules: the respelling
    third = submit(Request(kind="scene", target_id=2, prompt="Aoife woke.", **flash_v2_5)).row_id  # type: ignore[arg-type]
    assert "completed" in synthesize("scene", third)
    last = fake.calls[-1]
    assert last.text == "EE-fa woke." and not last.params.get("pronunciation_dictionary_locators")


def test_a_projects_own_entry_wins_over_the_global_one_for_its_narrations_only(fake: FakeProviders) -> None:
    editor = staff_user("editor")
    save_entry(None, "Aoife", "EE-fa", editor)
    save_entry(DEMO_PROJECT, "aoife", "AY-fa", editor)
    with new_session() as session:
        elsewhere = Story(title="A story of no project", content="Aoife.")
        session.add(elsewhere)
        session.flush()
        outside = elsewhere.id
        session.commit()
    mine = submit(Request(kind="story", target_id=1, prompt="Aoife sang.", **OPENAI)).row_id
    theirs = submit(Request(kind="story", target_id=outside, prompt="Aoife sang.", **OPENAI)).row_id
    with new_session() as session:
        said = {
            row: Lexicon(lexicon.entries_of_narration(session, "story", row)).apply("Aoife sang.")
            for row in (mine, theirs)
        }
    assert said == {mine: "AY-fa sang.", theirs: "EE-fa sang."}
