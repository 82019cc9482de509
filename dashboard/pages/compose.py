"""Compose: pick a story or a scene image, a voice, see the estimate, submit, and hear the result."""

import uuid
from dataclasses import replace

import streamlit as st

from dashboard import links, schedule
from dashboard.batch import batch_progress
from dashboard.choices import sample_player, voice_choice
from dashboard.plain import md
from dashboard.player import narration_card
from dashboard.session import require
from dashboard.views import thumbnail
from db.engine import new_session
from db.narrations import Kind, images, projects, stories, story_narration, tag_names, theme_names
from db.settings import get_settings
from workers import catalogue
from workers.budget import this_month
from workers.bulk import narrate_scenes
from workers.media import RefusedPath
from workers.submit import Refused, submit
from workers.validation import MAX_PROMPT_CHARS, too_long

user = require(compose=True)
st.title("Compose a narration")


def _token(name: str) -> str:
    """This form's submit token: a double-click sends the same one twice, and only one counts."""
    return str(st.session_state.setdefault(name, uuid.uuid4().hex))


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
    current_label = f"#{current.id} ({current.status})" if current else None
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
                st.image(str(picture), width=240, caption=image_by_id[image_id].caption[:120])

replace_current = False
if current_label:
    st.info(
        f"This story already has narration {md(current_label)}. A new one replaces it: the current audio stays "
        "in place until the new one completes."
    )
    replace_current = st.checkbox("Replace the current narration", key=f"replace-{story.id}")

typed = st.text_area(
    "Text to narrate", value=default_text, height=220, key=f"prompt-{kind}-{target_id}", max_chars=MAX_PROMPT_CHARS
)
# The text area keeps at most MAX_PROMPT_CHARS: a longer story arrives cut short, so it is taken whole (and refused).
prompt = default_text if typed == default_text[:MAX_PROMPT_CHARS] else typed
choice = voice_choice("compose")
sample_player(choice, "compose")

left, right = st.columns(2)
theme = left.selectbox(
    "Theme", [None, *known_themes], format_func=lambda t: "no theme" if t is None else t, accept_new_options=True
)
tags = right.multiselect("Tags", known_tags, accept_new_options=True, placeholder="pick or type new tags")
start_at = schedule.start_time_input()

if length_problem := too_long(prompt):
    st.error(md(length_problem))  # before estimating: a megabyte is not split just to be refused
else:
    estimate = catalogue.estimate(choice.model, prompt)
    a, b, c, d = st.columns(4)
    a.metric("Characters", f"{estimate.characters:,}")
    b.metric("Chunks", estimate.chunks)
    c.metric("Estimated length", f"{estimate.seconds / 60:.1f} min")
    d.metric("Estimated cost", f"${estimate.cost_usd:.4f}")
    if estimate.cost_usd and (budget := this_month(get_settings())):
        (st.warning if budget.after(estimate.cost_usd) > 1 else st.caption)(budget.before_submit(estimate.cost_usd))

if choice.missing_key:
    st.warning(
        f"{choice.info.label} needs an API key: set {choice.missing_key} in the environment or in "
        ".streamlit/secrets.toml."
    )
request = choice.request(
    kind=kind,
    target_id=target_id,
    prompt=prompt,
    scheduled_at=start_at,
    theme=str(theme) if theme else None,
    tags=tuple(str(t) for t in tags),
    replace=replace_current,
    user_id=user.user_id,
)
label = f"Set {choice.missing_key} to use {choice.info.label}" if choice.missing_key else "Submit narration"
if st.button(label, type="primary", disabled=choice.missing_key is not None):
    try:
        done = submit(replace(request, once_key=_token("compose_token")))
    except Refused as refused:
        st.error(md(refused))
    else:
        st.session_state["last_submitted"] = (done.kind, done.row_id)
        st.session_state.pop("compose_token")  # the next submit is a new one
        (st.warning if done.waiting_for_redis else st.success)(md(done.message))

if kind == "scene":
    with st.expander(f"Narrate all {scene_count} scenes of “{md(story.title)}”"):
        st.caption("One narration per scene image, each from its caption, with the voice and options above.")
        redo = st.checkbox("Also redo scenes that already have a completed narration", key="bulk-redo")
        if st.button(f"Narrate {scene_count} scenes", disabled=choice.missing_key is not None):
            try:
                batch = narrate_scenes(story.id, replace(request, once_key=_token("bulk_token")), redo_completed=redo)
            except Refused as refused:
                st.error(md(refused))
            else:
                st.session_state.pop("bulk_token")
                st.session_state["last_batch"] = [s.row_id for s in batch.submitted]
                st.success(md(batch.message))
        if st.session_state.get("last_batch"):
            batch_progress(st.session_state["last_batch"])

if "last_submitted" in st.session_state:
    st.divider()
    last_kind, last_id = st.session_state["last_submitted"]
    narration_card(last_kind, last_id, user=user)
    st.page_link(
        links.PAGE,
        label="Open its page: details, and each passage to hear or fix as soon as it is narrated",
        icon=":material/open_in_new:",
        query_params=links.params(last_kind, last_id),
    )
