"""Compose: pick a story or a scene image, a voice, see the estimate, submit, and hear the result."""

import uuid

import streamlit as st

from dashboard.player import narration_card
from dashboard.session import require
from db.engine import new_session
from db.narrations import Kind, images, projects, stories
from db.settings import get_settings
from workers import catalogue
from workers.submit import Refused, Request, submit

PRIORITIES = {-1: "low", 0: "normal", 1: "high"}
user = require(compose=True)

st.title("Compose a narration")

with new_session() as session:
    all_projects = projects(session)
    project_names = {p.id: p.name for p in all_projects}
    project_id = st.selectbox(
        "Project",
        [None, *project_names],
        format_func=lambda i: "All projects" if i is None else project_names[i],
    )
    story_list = stories(session, project_id=project_id)
    if not story_list:
        st.info("No stories yet. Run `narration-desk seed-demo` for demo stories, or add stories in the product.")
        st.stop()
    story_by_id = {s.id: s for s in story_list}
    kind: Kind = st.radio("Narrate", ["story", "scene"], format_func=lambda k: f"the {k}", horizontal=True)
    story_id = st.selectbox("Story", list(story_by_id), format_func=lambda i: story_by_id[i].title)
    story = story_by_id[story_id]
    target_id, default_text = story.id, story.content
    if kind == "scene":
        image_list = images(session, story_id=story.id)
        if not image_list:
            st.info("This story has no scene images yet.")
            st.stop()
        image_by_id = {i.id: i for i in image_list}
        image_id = st.selectbox(
            "Scene image", list(image_by_id), format_func=lambda i: f"#{i}: {image_by_id[i].caption[:70]}"
        )
        target_id, default_text = image_id, image_by_id[image_id].caption

prompt = st.text_area("Text to narrate", value=default_text, height=220, key=f"prompt-{kind}-{target_id}")

left, middle, right = st.columns(3)
provider_by_id = {p.id.value: p for p in catalogue.CATALOGUE}
provider_id = left.selectbox("Provider", list(provider_by_id), format_func=lambda p: provider_by_id[p].label)
info = provider_by_id[provider_id]
model_by_id = {m.id: m for m in info.models}
model_id = middle.selectbox("Model", list(model_by_id), format_func=lambda m: model_by_id[m].label)
model = model_by_id[model_id]
voice = right.selectbox("Voice", list(model.voices))

instructions = (
    st.text_input("Tone instructions", placeholder="e.g. warm, unhurried, like a bedtime story")
    if model.takes_instructions
    else None
)
speed = st.slider("Speed", 0.25, 4.0, 1.0, 0.05) if provider_id == "openai" else None

left, right = st.columns(2)
output_format = left.selectbox("Save as", list(catalogue.OUTPUT_FORMATS))
priority = right.select_slider("Priority", options=[-1, 0, 1], value=0, format_func=PRIORITIES.__getitem__)

estimate = catalogue.estimate(model, prompt)
a, b, c, d = st.columns(4)
a.metric("Characters", f"{estimate.characters:,}")
b.metric("Chunks", estimate.chunks)
c.metric("Estimated length", f"{estimate.seconds / 60:.1f} min")
d.metric("Estimated cost", f"${estimate.cost_usd:.4f}")

missing = catalogue.missing_key(info, get_settings())
if missing:
    st.warning(f"{info.label} needs an API key: set {missing} in the environment or in .streamlit/secrets.toml.")
label = f"Set {missing} to use {info.label}" if missing else "Submit narration"
if st.button(label, type="primary", disabled=missing is not None):
    try:
        done = submit(
            Request(
                kind=kind,
                target_id=target_id,
                prompt=prompt,
                provider=provider_id,
                model=model_id,
                voice=voice,
                output_format=output_format,
                priority=priority,
                instructions=instructions,
                speed=speed if speed != 1.0 else None,
                user_id=user.user_id,
                once_key=st.session_state.setdefault("compose_token", uuid.uuid4().hex),
            )
        )
    except Refused as refusal:
        st.error(str(refusal))
    else:
        st.session_state["last_submitted"] = (done.kind, done.row_id)
        st.session_state["compose_token"] = uuid.uuid4().hex  # the next submit is a new one
        (st.warning if done.waiting_for_redis else st.success)(done.message)

if "last_submitted" in st.session_state:
    st.divider()
    last_kind, last_id = st.session_state["last_submitted"]
    narration_card(last_kind, last_id, user=user)
