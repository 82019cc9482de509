"""The pronunciation lexicon: a term and how to say it, per project or for all; tried on the spot;
and the completed narrations an entry change marked, to narrate just their passages again."""

import streamlit as st

from dashboard import labels, links
from dashboard.plain import md
from dashboard.session import require
from db import lexicon
from db.engine import new_session
from db.narrations import projects
from workers.engine.catalogue import CATALOGUE
from workers.service.lexicon import remove_entry, renarrate, save_entry
from workers.service.samples import NoSample, spoken_word

user = require()
st.title("Pronunciation lexicon")
if said := st.session_state.pop("lexicon-said", None):
    st.info(md(said))  # what the last action did, kept across the rerun that shows its effect
st.caption(
    "Each term is said as its respelling by every voice, whatever its case, as a whole word (“Aoife's” "
    "and “(Aoife)” too, not “Aoifeen”). A project's own entry wins over a global one for the same term."
)
with new_session() as session:
    names = {p.id: p.name for p in projects(session)}
scope = st.selectbox(
    "Entries of", [None, *names], format_func=lambda p: "every project (global)" if p is None else names[p]
)
with new_session() as session:
    rows = lexicon.listed(session, scope)
    marked = lexicon.marks(session, scope)
zone = labels.display_zone()
if rows:
    st.dataframe(
        [
            {"term": r.term, "say it as": r.respelling, "IPA": r.ipa or "", "version": r.version,
             "changed by": r.updated_by or "—", "changed": labels.when(r.updated_at, zone)}
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )  # fmt: skip
else:
    st.caption("No entry here yet.")

if user.can_compose:
    st.subheader("Add or change an entry")
    left, right = st.columns(2)
    term = left.text_input("Term", placeholder="Aoife", help="As the text spells it; an existing term is changed")
    respelling = right.text_input("Say it as", placeholder="EE-fa")
    ipa = st.text_input(
        "IPA (optional)",
        placeholder="ˈiːfə",
        help="ElevenLabs Flash v2 takes phoneme rules: there the term goes as written, with a pronunciation "
        "dictionary in IPA; every other model is sent the respelling.",
    )
    voices = {f"{p.id.value}|{m.id}|{m.voices[0]}": f"{p.label} · {m.label}" for p in CATALOGUE for m in p.models[:1]}
    hear_in = st.selectbox("Hear it in", list(voices), format_func=voices.__getitem__)
    hear, save = st.columns(2)
    if hear.button("Hear it", icon=":material/volume_up:", disabled=not respelling.strip()):
        provider, model, voice = hear_in.split("|")
        try:
            st.audio(spoken_word(provider, model, voice, respelling), format="audio/wav")
        except NoSample as why:
            st.warning(md(why))
    if save.button("Save the entry", type="primary"):
        st.session_state["lexicon-said"] = save_entry(scope, term, respelling, user, ipa)
        st.rerun()
    if rows:
        gone = st.selectbox("Remove an entry", [None, *rows], format_func=lambda r: "—" if r is None else r.term)
        if gone is not None and st.button(f"Remove “{md(gone.term)}”"):
            st.session_state["lexicon-said"] = remove_entry(gone.id, user)
            st.rerun()

st.subheader("Narrations to narrate again")
if not marked:
    st.caption("None: every completed narration says each term as the lexicon does now.")
for number, mark in enumerate(marked):
    which = ("passage " if len(mark.passages) == 1 else "passages ") + (
        ", ".join(str(i + 1) for i in mark.passages) or "all"
    )
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.page_link(
        links.PAGE,
        label=f"{mark.kind.title()} narration #{mark.narration_id}: “{md(mark.term)}” in {which}",
        query_params=links.params(mark.kind, mark.narration_id),
    )
    if user.can_compose and right.button(f"Narrate {which} again", key=f"renarrate-{number}"):
        st.session_state["lexicon-said"] = renarrate(mark, user)
        st.rerun()
