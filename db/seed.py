"""Demo data for the stand-alone setup: one project, a few stories, scene images with captions.

Written once: `seed_demo` does nothing when the database already has stories (a Django
database with real data must never get demo rows mixed in).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Image, Project, Story

DEMO_PROJECT = "Demo: Tales for the evening"

DEMO_STORIES: list[tuple[str, str, list[str]]] = [
    (
        "The Lighthouse Keeper's Cat",
        "Every night, when the lamp at the top of the lighthouse began to turn, Miso the cat climbed "
        "the hundred and twelve steps to sit beside it. The keeper said she was counting ships. "
        "One stormy evening the lamp flickered and went dark. Miso did not run. She sat by the cold "
        "glass and cried, loud and long, until the keeper woke, lit the spare wick, and sent the "
        "beam back across the water. In the morning a fishing boat came into the harbour, and the "
        "whole crew walked up the hill with a basket of the best sardines.",
        [
            "A tall white lighthouse on a rocky island at dusk, its lamp just beginning to glow.",
            "A small grey cat sitting beside a huge glass lens, looking out at a dark, stormy sea.",
            "Fishermen climbing a green hill at sunrise, carrying a basket of silver fish.",
        ],
    ),
    (
        "The Clockmaker's Apprentice",
        "Ada had worked in the clock shop for a year and had never once been allowed to open the "
        "great tower clock. Then, on the morning of the festival, it stopped at seven minutes to "
        "noon. The clockmaker was away. Ada took the brass key from its hook, climbed into the "
        "tower, and found a sparrow's nest wedged between two gears. She moved it, gently, to the "
        "window ledge. At noon the bells rang out over the square, and nobody below ever knew how "
        "close the festival had come to starting late.",
        [
            "A narrow workshop full of ticking clocks, warm light falling on a wooden bench.",
            "Inside a clock tower: giant brass gears, and a tiny nest tucked between two of them.",
        ],
    ),
    (
        "A Map of the Moon Garden",
        "Grandmother kept a garden that only bloomed at night. She drew its map on the back of an "
        "old calendar: silver sage by the gate, moonflowers along the fence, and in the very "
        "middle a white rose that opened for one hour a year. Leo studied the map all summer. On "
        "the last night of August he waited by the rose with a lantern turned low, and just "
        "before midnight, petal by petal, it opened.",
        [
            "A garden of pale flowers under a full moon, a wooden gate half open.",
            "A boy with a dim lantern kneeling beside a single white rose at midnight.",
        ],
    ),
]


def seed_demo(session: Session) -> bool:
    """Insert the demo project, stories and images; False if the database already had stories."""
    if session.scalar(select(func.count()).select_from(Story)):
        return False
    project = Project(name=DEMO_PROJECT)
    session.add(project)
    session.flush()
    for title, content, captions in DEMO_STORIES:
        story = Story(title=title, content=content, project_id=project.id)
        session.add(story)
        session.flush()
        session.add_all(Image(story_id=story.id, caption=caption, image=None) for caption in captions)
    session.commit()
    return True
