"""Compose: pick a story or a scene image, a voice, see the estimate, submit, and hear the result."""

from dataclasses import replace

import streamlit as st

from dashboard import just_submitted, labels, links, schedule
from dashboard.batch import batch_progress
from dashboard.choices import not_set_up, sample_player, submit_label, voice_choice
from dashboard.listen_back import listen_back_box
from dashboard.plain import md
from dashboard.player import narration_card
from dashboard.session import require
from dashboard.views import load_lexicon, thumbnail
from db.engine import new_session
from db.narrations import (
    Kind,
    images,
    pending_replacement,
    projects,
    stories,
    story_narration,
    tag_names,
    theme_names,
)
from db.settings import get_settings
from workers.engine import catalogue
from workers.engine.budget import this_month
from workers.engine.media import RefusedPath
from workers.engine.validation import MAX_PROMPT_CHARS, too_long
from workers.service.bulk import narrate_scenes
from workers.service.submit import Refused

user = require(compose=True)
st.title("Compose a narration")


with new_session() as session:
    project_names = {p.id: p.name for p in projects(session)}
    project_id = st.selectbox(
        "Project", [None, *project_names], format_func=lambda i: "All projects" if i is None else project_names[i]
    )
    story_by_id = {s.id: s for s in stories(session, project_id=project_id)}
    if not story_by_id:
        st.info("No stories yet. Run `narration-desk seed-demo` for demo stories, or add stories in the product.")
        st.stop()
    kind: Kind = st.radio("Narrate", ["story", "scene"], format_func=lambda k: f"the {k}", horizontal=True)
    story_id = st.selectbox("Story", list(story_by_id), format_func=lambda i: story_by_id[i].title)
    story = story_by_id[story_id]
    target_id, default_text, scene_count = story.id, story.content, 0
    current = story_narration(session, story.id) if kind == "story" else None
    replacing = pending_replacement(session, current.id) if current else None
    known_themes, known_tags = theme_names(session), tag_names(session)
    if kind == "scene":
        image_by_id = {i.id: i for i in images(session, story_id=story.id)}
        scene_count = len(image_by_id)
        if not image_by_id:
            st.info("This story has no scene images yet.")
            st.stop()
        image_id = st.selectbox(
            "Scene image", list(image_by_id), format_func=lambda i: f"#{i}: {image_by_id[i].caption[:70]}"
        )
        target_id, default_text = image_id, image_by_id[image_id].caption
        try:
            picture = thumbnail(image_by_id[image_id].image)
        except RefusedPath as unsafe:
            st.caption(unsafe.not_done("shown"))
        else:
            if picture is not None:
                st.image(picture, width=240, caption=image_by_id[image_id].caption[:120])

replace_current = False
replace_key = f"replace-{story.id}"
if current is not None:
    note = st.empty()  # above the box, but it says what the box's value means
    where = f"“{md(story.title)}” has narration #{current.id}"
    if current.status in ("queued", "processing"):
        note.info(
            f"{where}, still {current.status}. Submit is refused until it finishes or is cancelled: each story "
            "has one narration."
        )
    elif replacing is not None:
        note.info(f"{where}; #{replacing.id} is already replacing it. Submit is refused until #{replacing.id} "
                  "finishes or is cancelled.")  # fmt: skip
    elif replace_current := st.checkbox("Replace the current narration", key=replace_key):
        note.info(
            f"Submit makes a new narration of “{md(story.title)}”. #{current.id} keeps playing, here and in the "
            f"storytelling app, until the new one completes; then the new one replaces it, and #{current.id} stays "
            "in the library."
        )
    else:
        note.info(
            f"This story already has narration #{current.id} ({labels.state(current.status, current.cancelled_at)}"
            "). Submit is refused unless “Replace the current narration” is ticked: each story has one narration."
        )

typed = st.text_area(
    "Text to narrate", value=default_text, height=220, key=f"prompt-{kind}-{target_id}", max_chars=MAX_PROMPT_CHARS
)
# The text area keeps at most MAX_PROMPT_CHARS: a longer story arrives cut short, so it is taken whole (and refused).
prompt = default_text if typed == default_text[:MAX_PROMPT_CHARS] else typed
spoken = load_lexicon(story.project_id)
if said_differently := spoken.found(prompt):
    st.caption("The pronunciation lexicon says these differently, for every voice (the estimate counts them so):")
    st.markdown(
        " · ".join(f":orange-background[{md(e.term)}] → {md(e.respelling)} ({n}×)" for e, n in said_differently.items())
    )
choice = voice_choice("compose")
sample_player(choice, "compose")

left, right = st.columns(2)
theme = left.selectbox(
    "Theme", [None, *known_themes], format_func=lambda t: "no theme" if t is None else t, accept_new_options=True
)
tags = right.multiselect("Tags", known_tags, accept_new_options=True, placeholder="pick or type new tags")
start_at = schedule.start_time_input()
listen_back = listen_back_box("compose")

if length_problem := too_long(prompt):
    st.error(md(length_problem))  # before estimating: a megabyte is not split just to be refused
else:
    estimate = catalogue.estimate(
        choice.model, spoken.apply(prompt), listen_back_model=get_settings().listen_back_model if listen_back else None
    )
    a, b, c, d = st.columns(4)
    a.metric("Characters", f"{estimate.characters:,}")
    b.metric("Chunks", estimate.chunks)
    c.metric("Estimated length", labels.length(estimate.seconds))
    heard = f"includes about ${estimate.listen_back_usd:.4f} for the listen-back" if listen_back else None
    d.metric("Estimated cost", f"${estimate.cost_usd:.4f}", help=heard)
    if estimate.cost_usd and (budget := this_month(get_settings())):
        (st.warning if budget.after(estimate.cost_usd) > 1 else st.caption)(budget.before_submit(estimate.cost_usd))

if unavailable := not_set_up(choice, user):
    st.warning(md(unavailable))
request = choice.request(
    kind=kind,
    target_id=target_id,
    prompt=prompt,
    scheduled_at=start_at,
    theme=str(theme) if theme else None,
    tags=tuple(str(t) for t in tags),
    replace=replace_current,
    user_id=user.user_id,
    listen_back=listen_back,
)
form = (kind, target_id)
about = f"story “{story.title}”" if kind == "story" else f"scene #{target_id}: {default_text[:70]}"
label = submit_label(choice, f"Replace narration #{current.id}" if current and replace_current else "Submit narration")
if st.button(label, type="primary", disabled=choice.missing_key is not None):
    just_submitted.submit_form(request, form, about, replace_key)
    st.rerun()  # from the top: "Replace" shows unticked, the card the new narration
if said := st.session_state.pop(just_submitted.SAID, None):
    getattr(st, said[0])(md(said[1]))

if kind == "scene":
    with st.expander(f"Narrate all {scene_count} scenes of “{md(story.title)}”"):
        st.caption("One narration per scene image, each from its caption, with the voice and options above.")
        redo = st.checkbox("Also redo scenes that already have a completed narration", key="bulk-redo")
        if st.button(submit_label(choice, f"Narrate {scene_count} scenes"), disabled=choice.missing_key is not None):
            try:
                batch = narrate_scenes(
                    story.id, replace(request, once_key=just_submitted.token("bulk_token")), redo_completed=redo
                )
            except Refused as refused:
                st.error(md(refused))
            else:
                st.session_state.pop("bulk_token")
                just_submitted.remember_batch(story.id, story.title, [s.row_id for s in batch.submitted])
                st.success(md(batch.message))

if last := just_submitted.shown(form, story.id):
    st.divider()
    st.markdown(f"**Just submitted from this form:** {md(last.about)}")
    if last.form[0] == "scenes":
        batch_progress(last.rows)
    else:
        narration_card(last.kind, last.rows[0], user=user)
        st.page_link(
            links.PAGE,
            label="Open its page: details, and each passage to hear or fix as soon as it is narrated",
            icon=":material/open_in_new:",
            query_params=links.params(last.kind, last.rows[0]),
        )
