"""Typed models of the shared schema.

`auth_user`, `project_project`, `story_story`, `images_image`, `tts_storyaudio` and
`tts_sceneaudio` belong to the Django app: their names, types and NOT NULL columns are its
contract (see README, "The shared schema"). Everything Narration Desk adds is nullable or has a
server default, so the Django ORM, which names only its own columns, can still insert rows.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base; every timestamp is timezone-aware, as Django's are with USE_TZ."""

    # PostgreSQL's own default names, which Django's tables already carry (`auth_user_pkey`, ...).
    metadata = MetaData(
        naming_convention={
            "pk": "%(table_name)s_pkey",
            "uq": "%(table_name)s_%(column_0_name)s_key",
            "fk": "%(table_name)s_%(column_0_name)s_fkey",
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
        }
    )

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True), dict[str, Any]: JSONB}


class Status(StrEnum):
    """Django's status choices; rows the Django side inserts as `queued` are work for our workers."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


CANCELLED = "cancelled"
"""The state people read for a `failed` row whose `cancelled_at` is set: someone stopped it on
purpose, so it is no failure (not in the `failed` filter, no failure rate). Stored as `failed`, so
the Django side keeps its four statuses."""

STATES: tuple[str, ...] = (*(s.value for s in Status), CANCELLED)
"""Every state a narration is listed and counted under: Django's four, then `cancelled`."""


class Provider(StrEnum):
    """Django's provider choices plus `local`, the offline Piper voice that needs no key."""

    OPENAI = "openai"
    ELEVENLABS = "elevenlabs"
    LOCAL = "local"


def _django_fk(target: str, name: str, ondelete: str | None = None) -> ForeignKey:
    """Django's FKs are DEFERRABLE INITIALLY DEFERRED; the narration tables' get a deliberate ON DELETE."""
    return ForeignKey(target, name=name, ondelete=ondelete, deferrable=True, initially="DEFERRED")


def _fk(target: str, ondelete: str) -> ForeignKey:
    return ForeignKey(target, ondelete=ondelete, deferrable=True, initially="DEFERRED")


class User(Base):
    """Django's `auth_user`; staff sign in with it and audit columns point at it."""

    __tablename__ = "auth_user"
    __table_args__ = (
        Index("auth_user_username_6821ab7c_like", "username", postgresql_ops={"username": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    password: Mapped[str] = mapped_column(String(128))
    last_login: Mapped[datetime | None]
    is_superuser: Mapped[bool] = mapped_column(Boolean)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    first_name: Mapped[str] = mapped_column(String(150))
    last_name: Mapped[str] = mapped_column(String(150))
    email: Mapped[str] = mapped_column(String(254))
    is_staff: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean)
    date_joined: Mapped[datetime]


class Group(Base):
    """Django's `auth_group`: members of the group named VIEWER_GROUP may sign in read-only."""

    __tablename__ = "auth_group"
    __table_args__ = (Index("auth_group_name_a6ea08ec_like", "name", postgresql_ops={"name": "varchar_pattern_ops"}),)

    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)


class UserGroup(Base):
    """Django's `auth_user_groups` (User.groups): who is in which group, managed in the Django admin."""

    __tablename__ = "auth_user_groups"
    __table_args__ = (
        UniqueConstraint("user_id", "group_id", name="auth_user_groups_user_id_group_id_94350c0c_uniq"),
        Index("auth_user_groups_user_id_6a12ed8b", "user_id"),
        Index("auth_user_groups_group_id_97559544", "group_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Integer, _django_fk("auth_user.id", "auth_user_groups_user_id_6a12ed8b_fk_auth_user_id")
    )
    group_id: Mapped[int] = mapped_column(
        Integer, _django_fk("auth_group.id", "auth_user_groups_group_id_97559544_fk_auth_group_id")
    )


class Project(Base):
    """Django's `project_project`."""

    __tablename__ = "project_project"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class Story(Base):
    """Django's `story_story`: the text a story narration starts from."""

    __tablename__ = "story_story"
    __table_args__ = (Index("story_story_project_id_e885e0f2", "project_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(
        BigInteger, _django_fk("project_project.id", "story_story_project_id_e885e0f2_fk_project_project_id")
    )

    project: Mapped[Project | None] = relationship()


class Image(Base):
    """Django's `images_image`: a scene image whose caption a scene narration starts from."""

    __tablename__ = "images_image"
    __table_args__ = (Index("images_image_story_id_f5f7c4b0", "story_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    image: Mapped[str | None] = mapped_column(String(100))
    caption: Mapped[str] = mapped_column(Text)
    story_id: Mapped[int | None] = mapped_column(
        BigInteger, _django_fk("story_story.id", "images_image_story_id_f5f7c4b0_fk_story_story_id")
    )

    story: Mapped[Story | None] = relationship()


class Theme(Base):
    """A theme, normalized out of the free-text `theme` column so it can be listed and filtered."""

    __tablename__ = "tts_theme"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Tag(Base):
    """A tag, normalized out of the `tags` array; links below say which narrations carry it."""

    __tablename__ = "tts_tag"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)


storyaudio_tags = Table(
    "tts_storyaudio_tags",
    Base.metadata,
    Column("storyaudio_id", BigInteger, _fk("tts_storyaudio.id", "CASCADE"), primary_key=True),
    Column("tag_id", BigInteger, _fk("tts_tag.id", "CASCADE"), primary_key=True, index=True),
)

sceneaudio_tags = Table(
    "tts_sceneaudio_tags",
    Base.metadata,
    Column("sceneaudio_id", BigInteger, _fk("tts_sceneaudio.id", "CASCADE"), primary_key=True),
    Column("tag_id", BigInteger, _fk("tts_tag.id", "CASCADE"), primary_key=True, index=True),
)


class BaseTTS:
    """Columns both narration tables share (the review's `BaseTTS`).

    The legacy `theme` and `tags` columns stay the ones to write: a database trigger keeps
    `theme_id` and the tag link tables in step, whichever side (Django or us) wrote them.
    """

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    prompt: Mapped[str] = mapped_column(Text)
    # Deferred: list queries must never drag megabytes of preview along.
    base64_audio: Mapped[str | None] = mapped_column(Text, deferred=True)
    audio_file: Mapped[str | None] = mapped_column(String(100))
    voice_style: Mapped[str | None] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    theme: Mapped[str | None] = mapped_column(String(100))
    task_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]

    # Added by Narration Desk (all nullable or server-defaulted).
    theme_id: Mapped[int | None] = mapped_column(BigInteger, _fk("tts_theme.id", "SET NULL"))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer, server_default=text("3"))
    next_attempt_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    scheduled_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))
    processed_by: Mapped[str | None] = mapped_column(String(200))
    audio_metadata: Mapped[dict[str, Any] | None]
    # Set (with status `failed`) when someone cancelled the job; keeps Django's four statuses.
    cancelled_at: Mapped[datetime | None]
    output_format: Mapped[str | None] = mapped_column(String(10))
    # Delivery options: tone instructions (gpt-4o-mini-tts) and speaking speed (OpenAI, 0.25–4).
    instructions: Mapped[str | None] = mapped_column(Text)
    speed: Mapped[float | None] = mapped_column(Float)
    # What the provider billed for the completed audio (a trigger fills it for any completed row).
    characters_billed: Mapped[int | None] = mapped_column(Integer)
    # A redo of passages of a completed narration: `queued` or `processing` while one is in flight,
    # else None. The row stays `completed` with its audio meanwhile (Django sees no change); the
    # redo's worker is fenced on (redo_state, processed_by, attempts), see db/redo.py.
    redo_state: Mapped[str | None] = mapped_column(String(20))
    # How the narration is mastered (workers/engine/mastering.py; NULL = the desk's default profile) and
    # whether its passages are transcribed back and compared with the text (NULL = no).
    mastering: Mapped[str | None] = mapped_column(String(16))
    listen_back: Mapped[bool | None]
    # Set when the project's fallback voice narrated it because the voice asked for failed for
    # account reasons (workers/engine/fallback.py): that voice, as "provider · model · voice"; the
    # provider, model and voice columns then name the fallback, what the audio really is.
    fell_back_from: Mapped[str | None] = mapped_column(String(250))


HISTORY_COLUMNS = (
    "status", "provider", "model_backend", "started_at", "completed_at", "duration_seconds", "characters_billed",
)  # fmt: skip


def _narration_indexes(table: str) -> tuple[Any, ...]:
    """Indexes both narration tables get: monitoring (status, provider, task_id) and the claim scan."""
    return (
        Index(f"ix_{table}_status", "status"),
        Index(f"ix_{table}_provider", "provider"),
        Index(f"ix_{table}_task_id", "task_id"),
        # The reconciler's scan: queued rows, highest priority then oldest first.
        Index(
            f"ix_{table}_queued",
            text("priority DESC"),
            "created_at",
            postgresql_where=text("status = 'queued'"),
        ),
        # The history panels' index-only scans: a month of aggregates reads this, not the wide rows.
        Index(f"ix_{table}_history", "created_at", postgresql_include=list(HISTORY_COLUMNS)),
        Index(f"ix_{table}_completed", "completed_at"),  # the live failure rate: jobs finished lately
        # The reconciler's and the orphan scan's view of redos in flight (a handful at any time).
        Index(f"ix_{table}_redo", "redo_state", postgresql_where=text("redo_state IS NOT NULL")),
        CheckConstraint("attempts >= 0", name="attempts"),
    )


class StoryAudio(BaseTTS, Base):
    """Django's `StoryAudio`: the narration of one story (at most one per story)."""

    __tablename__ = "tts_storyaudio"
    __table_args__ = (
        Index("tts_storyau_created_a83cf8_idx", "created_at"),
        Index("tts_storyau_user_id_9f714e_idx", "user_id"),
        Index("tts_storyaudio_project_id_5a4a2898", "project_id"),
        Index("tts_storyaudio_user_id_33a24409", "user_id"),
        *_narration_indexes("tts_storyaudio"),
    )

    model_backend: Mapped[str] = mapped_column(String(50))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)))
    user_id: Mapped[int | None] = mapped_column(
        Integer, _django_fk("auth_user.id", "tts_storyaudio_user_id_33a24409_fk_auth_user_id", "SET NULL")
    )
    project_id: Mapped[int | None] = mapped_column(
        BigInteger,
        _django_fk("project_project.id", "tts_storyaudio_project_id_5a4a2898_fk_project_project_id", "SET NULL"),
    )
    # Kept when the story is deleted: paid-for audio stays in the library, marked as orphaned.
    story_id: Mapped[int | None] = mapped_column(
        BigInteger,
        _django_fk("story_story.id", "tts_storyaudio_story_id_5d108918_fk_story_story_id", "SET NULL"),
        unique=True,
    )
    # A replacement runs without `story_id` (the one-to-one is taken) until it completes.
    replaces_id: Mapped[int | None] = mapped_column(BigInteger, _fk("tts_storyaudio.id", "SET NULL"), index=True)
    # The story this narrates, kept when a replacement takes `story_id` over, so every narration of a
    # story (its whole replacement chain) names it. Filled by submit, or by a trigger from `story_id`
    # for rows Django inserts; cleared only when the story itself is deleted.
    narrated_story_id: Mapped[int | None] = mapped_column(BigInteger, _fk("story_story.id", "SET NULL"), index=True)

    story: Mapped[Story | None] = relationship(foreign_keys=lambda: [StoryAudio.story_id])
    project: Mapped[Project | None] = relationship()


class SceneAudio(BaseTTS, Base):
    """Django's `SceneAudio`: the narration of one scene image."""

    __tablename__ = "tts_sceneaudio"
    __table_args__ = (
        Index("tts_sceneau_created_61393b_idx", "created_at"),
        Index("tts_sceneau_image_i_3600d5_idx", "image_id"),
        Index("tts_sceneaudio_image_id_0c5717be", "image_id"),
        Index("tts_sceneaudio_user_id_54d9e1f5", "user_id"),
        # A story board's newest narration of each scene image, without sorting all of its narrations.
        Index("ix_tts_sceneaudio_image_newest", "image_id", "created_at"),
        *_narration_indexes("tts_sceneaudio"),
    )

    # Django's SceneAudio has neither column; the server defaults keep its inserts working.
    model_backend: Mapped[str] = mapped_column(String(50), server_default=text("''"))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), server_default=text("'{}'"))
    user_id: Mapped[int | None] = mapped_column(
        Integer, _django_fk("auth_user.id", "tts_sceneaudio_user_id_54d9e1f5_fk_auth_user_id", "SET NULL")
    )
    # image_id is NOT NULL in Django's table, so a scene narration goes with its image.
    image_id: Mapped[int] = mapped_column(
        BigInteger,
        _django_fk("images_image.id", "tts_sceneaudio_image_id_0c5717be_fk_images_image_id", "CASCADE"),
    )

    image: Mapped[Image] = relationship()


class Chunk(Base):
    """One provider request's worth of a narration: its text, and once done, its audio on disk.

    A retry skips chunks that are done, so nobody pays for them twice; re-narrating one passage
    means redoing one chunk and joining again.
    """

    __tablename__ = "tts_chunk"
    __table_args__ = (
        CheckConstraint("(story_audio_id IS NULL) <> (scene_audio_id IS NULL)", name="one_owner"),
        UniqueConstraint("story_audio_id", "idx", name="tts_chunk_story_audio_id_key"),
        UniqueConstraint("scene_audio_id", "idx", name="tts_chunk_scene_audio_id_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    story_audio_id: Mapped[int | None] = mapped_column(BigInteger, _fk("tts_storyaudio.id", "CASCADE"))
    scene_audio_id: Mapped[int | None] = mapped_column(BigInteger, _fk("tts_sceneaudio.id", "CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # Plain-string defaults: `text` is a column name in this class body.
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    provider_calls: Mapped[int] = mapped_column(Integer, server_default="0")
    request_id: Mapped[str | None] = mapped_column(String(200))
    characters_billed: Mapped[int | None] = mapped_column(Integer)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    audio_path: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # A redo of this passage in a completed narration: its new text and audio stay here until the
    # job swaps them in (with the narration's new audio) in one transaction. `redo_state` is
    # queued / processing / done / failed / cancelled (the last outcome stays for people to read).
    redo_state: Mapped[str | None] = mapped_column(String(20))
    redo_text: Mapped[str | None] = mapped_column(Text)
    redo_error: Mapped[str | None] = mapped_column(Text)
    redo_audio_path: Mapped[str | None] = mapped_column(String(200))
    redo_sample_rate: Mapped[int | None] = mapped_column(Integer)
    redo_seconds: Mapped[float | None] = mapped_column(Float)
    redo_characters_billed: Mapped[int | None] = mapped_column(Integer)
    # The passage's quality figures and flags in the finished narration (workers/engine/qc.py), as in the
    # narration's audio_metadata["qc"]["passages"]; None until it is measured.
    qc: Mapped[dict[str, Any] | None]


class ProjectSetting(Base):
    """What a project asks of its narrations, beyond Django's `project_project` (our own table): a
    fallback voice for when the voice asked for fails for account reasons, and whether a completed
    narration needs approval before the product serves it."""

    __tablename__ = "tts_project_setting"

    project_id: Mapped[int] = mapped_column(BigInteger, _fk("project_project.id", "CASCADE"), primary_key=True)
    fallback_provider: Mapped[str | None] = mapped_column(String(20))
    fallback_model: Mapped[str | None] = mapped_column(String(100))
    fallback_voice: Mapped[str | None] = mapped_column(String(100))
    require_approval: Mapped[bool] = mapped_column(server_default=text("false"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))


class Review(Base):
    """One review of a completed narration (approve, or request changes with comments on passages):
    every review is kept, for the history; `ReviewState` holds the latest."""

    __tablename__ = "tts_review"
    __table_args__ = (Index("ix_tts_review_narration", "narration_kind", "narration_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    narration_kind: Mapped[str] = mapped_column(String(10))
    narration_id: Mapped[int] = mapped_column(BigInteger)
    verdict: Mapped[str] = mapped_column(String(20))
    """approved, or changes_requested."""
    user_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    audio_file: Mapped[str | None] = mapped_column(String(100))
    """The narration's audio file when it was reviewed: another one (a redo swapped in, a retry
    completed, a fallback) means the audio changed since. Not `completed_at`: a redo keeps it."""

    comments: Mapped[list[ReviewComment]] = relationship(order_by="ReviewComment.at_seconds")


class ReviewComment(Base):
    """A reviewer's comment on a moment of the audio, and the passage that moment falls in."""

    __tablename__ = "tts_review_comment"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    review_id: Mapped[int] = mapped_column(BigInteger, _fk("tts_review.id", "CASCADE"), index=True)
    at_seconds: Mapped[float] = mapped_column(Float)
    passage: Mapped[int | None] = mapped_column(Integer)
    """The chunk's index (0-based) the moment falls in; None when the narration records no starts."""
    text: Mapped[str] = mapped_column(Text)


class ReviewState(Base):
    """The latest review of each narration, what the library filters on and the Django app reads
    (through the `tts_narration_review` view, migration 0015)."""

    __tablename__ = "tts_review_state"

    narration_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    narration_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    review_id: Mapped[int] = mapped_column(BigInteger, _fk("tts_review.id", "CASCADE"))
    verdict: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))
    at: Mapped[datetime]
    audio_file: Mapped[str | None] = mapped_column(String(100))


class LexiconEntry(Base):
    """A pronunciation: a term and how to say it, for one project or (no project) for all. An entry
    is never deleted, only marked so, so the narrations that used it can still be found; every change
    bumps its version (db/lexicon.py)."""

    __tablename__ = "tts_lexicon_entry"
    __table_args__ = (
        UniqueConstraint(
            "project_id", "term_key", name="uq_tts_lexicon_entry_term", postgresql_nulls_not_distinct=True
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    project_id: Mapped[int | None] = mapped_column(BigInteger, _fk("project_project.id", "CASCADE"))
    term: Mapped[str] = mapped_column(String(200))
    term_key: Mapped[str] = mapped_column(String(200))
    """The term case-folded: one entry per term and project, whatever its case."""
    respelling: Mapped[str] = mapped_column(String(400))
    ipa: Mapped[str | None] = mapped_column(String(400))
    """How to say it in IPA, for models that take phoneme rules (ElevenLabs Flash v2); optional."""
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    deleted_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_by_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))


class PronunciationDictionary(Base):
    """A set of phoneme rules already made into a pronunciation dictionary in the ElevenLabs
    account, by a hash of the rules: made once, then reused by every narration that needs it."""

    __tablename__ = "tts_pronunciation_dictionary"

    rules_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dictionary_id: Mapped[str] = mapped_column(String(100))
    version_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class NarrationLexicon(Base):
    """Which entries a narration was narrated with, at which version."""

    __tablename__ = "tts_narration_lexicon"

    narration_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    narration_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, _fk("tts_lexicon_entry.id", "CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class LexiconMark(Base):
    """A completed narration holding a term whose entry changed since it was narrated: its passages
    that hold the term, to narrate again (a redo of just those clears the mark)."""

    __tablename__ = "tts_lexicon_mark"

    narration_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    narration_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, _fk("tts_lexicon_entry.id", "CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    passages: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    """0-based indexes of the passages that hold the term."""
    marked_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Event(Base):
    """Something that happened to a narration (db/events.py): every attempt and every action, so
    the row's own stamps can stay those of its first run. No FK to the narration, so a deleted
    narration's history stays readable."""

    __tablename__ = "tts_event"
    __table_args__ = (
        Index("ix_tts_event_narration", "narration_kind", "narration_id", "at"),
        Index("ix_tts_event_what_at", "what", "at"),
        Index("ix_tts_event_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    narration_kind: Mapped[str] = mapped_column(String(10))
    narration_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(server_default=func.now())
    what: Mapped[str] = mapped_column(String(30))
    passage: Mapped[int | None] = mapped_column(Integer)
    """The chunk's index (0-based), for events about one passage."""
    user_id: Mapped[int | None] = mapped_column(Integer, _fk("auth_user.id", "SET NULL"))
    worker: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)


class WorkerBeat(Base):
    """A worker process and its last heartbeat, kept in PostgreSQL so a Redis flush cannot hide it."""

    __tablename__ = "tts_worker"
    __table_args__ = (Index("ix_tts_worker_last_seen_at", "last_seen_at"),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    stopped_at: Mapped[datetime | None]
    current_job: Mapped[str | None] = mapped_column(String(100))
    """The one RQ job a worker of an older version runs (it still writes it); workers now leave it
    NULL, as they hold several: the rows name their worker (db/live.held_by)."""
    lease_key: Mapped[int | None] = mapped_column(BigInteger)
    """The advisory lock the worker's process holds while it lives (db/leases.py); NULL: an older worker."""


class MaintenanceRun(Base):
    """What one maintenance run found and did, for the operations page and the CLI."""

    __tablename__ = "tts_maintenance_run"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(20))
    report: Mapped[dict[str, Any]]


class AlertSpan(Base):
    """One alert from when the minutely check first saw it until it no longer held (None: still holds)."""

    __tablename__ = "tts_alert"
    __table_args__ = (
        Index("ix_tts_alert_open", "key", unique=True, postgresql_where=text("ended_at IS NULL")),
        Index("ix_tts_alert_started_at", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


Narration = StoryAudio | SceneAudio
"""Either kind of narration row; jobs and pages handle both the same way."""
