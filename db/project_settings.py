"""What a project asks of its narrations (`tts_project_setting`): a fallback voice, and whether a
completed narration needs approval. A project with no row asks for neither."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.models import ProjectSetting, Story
from db.narrations import kind_of


@dataclass(frozen=True)
class Voice:
    provider: str
    model: str
    voice: str

    @property
    def label(self) -> str:
        """ "openai · tts-1 · nova": how `fell_back_from` names the voice asked for."""
        return f"{self.provider} · {self.model} · {self.voice}"


@dataclass(frozen=True)
class ProjectRules:
    project_id: int
    fallback: Voice | None = None
    require_approval: bool = False


def rules(session: Session, project_id: int) -> ProjectRules:
    """The project's settings; the defaults (no fallback, no approval) when it has none."""
    row = session.get(ProjectSetting, project_id)
    if row is None:
        return ProjectRules(project_id)
    fallback = None
    if row.fallback_provider and row.fallback_model and row.fallback_voice:
        fallback = Voice(row.fallback_provider, row.fallback_model, row.fallback_voice)
    return ProjectRules(project_id, fallback, row.require_approval)


def rules_of_narration(session: Session, kind: str, row_id: int) -> ProjectRules | None:
    """The settings of the project the narration belongs to (through its story, as the library's
    project filter has it); None when it belongs to none."""
    k = kind_of(kind)
    project_id = session.scalar(k.with_story(select(Story.project_id).select_from(k.model)).where(k.model.id == row_id))
    return rules(session, int(project_id)) if project_id is not None else None


def save(session: Session, settings: ProjectRules, *, user_id: int | None) -> None:
    """Write the project's settings (the caller commits)."""
    fallback = settings.fallback
    values = {
        "fallback_provider": fallback.provider if fallback else None,
        "fallback_model": fallback.model if fallback else None,
        "fallback_voice": fallback.voice if fallback else None,
        "require_approval": settings.require_approval,
        "updated_by_id": user_id,
    }
    statement = insert(ProjectSetting).values(project_id=settings.project_id, **values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[ProjectSetting.project_id], set_={**values, "updated_at": func.now()}
        )
    )
