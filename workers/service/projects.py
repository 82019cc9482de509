"""A project's settings as staff change them: its fallback voice and whether its narrations need
approval. Each returns a sentence; who may change them is read afresh (`workers/service/access.py`)."""

from __future__ import annotations

from db.engine import new_session
from db.models import Project
from db.project_settings import ProjectRules, Voice, save
from db.settings import get_settings
from workers.engine import catalogue
from workers.service.access import refusal


def save_rules(project_id: int, fallback: Voice | None, require_approval: bool, user_id: int) -> str:
    """Store the project's settings; refused for viewers, for a project that is gone, and for a
    fallback voice the catalogue does not know or the desk has no key for (a fallback that cannot
    run would only be found out when the account it stands in for fails)."""
    if refused := refusal(user_id, "change a project's settings"):
        return refused
    if fallback is not None:
        model = catalogue.model(fallback.provider, fallback.model)
        info = catalogue.provider(fallback.provider)
        if model is None or info is None or fallback.voice not in model.voices:
            return f"{fallback.label} is not a voice of the catalogue; pick one from the lists."
        if missing := catalogue.missing_key(info, get_settings()):
            return f"{info.label} is not set up on this desk ({missing} is not set), so it cannot stand in for another."
    with new_session() as session:
        project = session.get(Project, project_id)
        if project is None:
            return f"Project #{project_id} no longer exists."
        save(session, ProjectRules(project_id, fallback, require_approval), user_id=user_id)
        session.commit()
        name = project.name
    said = f"Saved the settings of “{name}”: "
    said += f"fallback voice {fallback.label}" if fallback else "no fallback voice"
    return said + (", completed narrations need approval." if require_approval else ".")
