"""`seed-demo --rows N`: months of realistic narration history, for the operations page and its benchmark.

Rows are generated column by column with numpy and Arrow (no Python loop per row) and streamed in
with COPY (`db.bulk_load`), so a million take seconds, not the hours row-by-row inserts would.
Each table's rows are made in time order and take ascending ids, as real rows do: their index
entries are appended, not scattered. The history spans 90 days, grows towards today,
is busiest in working hours, has one provider incident, and mixes providers, models, voices,
statuses, latencies and the error messages the workers really write. Only finished jobs are
made, plus a few scheduled for the coming week: no worker picks up old demo rows as live work.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray
from psycopg import Cursor
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.bulk_load import copy_frame, indexes_built_after, lock_referenced, may_skip_triggers, triggers_skipped
from db.engine import get_engine, new_session
from db.models import Image, Project, Story, Tag, Theme
from db.seed import DEMO_PROJECT
from workers.engine.catalogue import CATALOGUE

HISTORY_PROJECTS = ("History: Fables", "History: Mysteries", "History: Bedtime")
STORIES_PER_PROJECT = 10
IMAGES_PER_STORY = 5
DAYS = 90
MICROSECOND = np.timedelta64(1, "us")
NOT_A_TIME = np.datetime64("NaT", "us")
SCHEDULED = 20
"""Queued rows scheduled over the next week, so the scheduled-jobs panel has something to show."""

PROVIDER_SHARE = {"local": 0.35, "openai": 0.45, "elevenlabs": 0.20}
FAILURE_RATE = {"local": 0.02, "openai": 0.05, "elevenlabs": 0.09}
INCIDENT_DAYS_AGO = 20
"""Six hours, this many days back, in which OpenAI failed most requests."""

ERRORS = {
    "local": ["The local voice produced no audio for this text. Check the text, then retry."],
    "openai": [
        "Gave up after 3 attempts: OpenAI rate limit (429): Rate limit reached for requests. Retry it later.",
        "Gave up after 3 attempts: Could not reach OpenAI or read its answer (ReadTimeout). Retry it later.",
        "OpenAI needs an API key: set OPENAI_API_KEY for the workers, then retry.",
    ],
    "elevenlabs": [
        "ElevenLabs quota exhausted: wait for it to reset or raise the plan's limit (quota_exceeded)",
        "Gave up after 3 attempts: ElevenLabs is busy (429 too_many_concurrent_requests). Retry it later.",
        "ElevenLabs has no voice 'Rachel': pick another voice",
    ],
}
CANCELLED = "Cancelled before it finished."
WORKERS = ("worker-a.4121", "worker-b.4388", "worker-c.5012")
THEMES = ("Adventure", "Bedtime", "Mystery", "Nature")
TAG_SETS = (("calm",), ("short",), ("calm", "short"), ("kids",), ("long", "slow"))

TRIGGERS_WRITTEN_HERE = {
    # 0003: theme_id from the theme's name, and the tag link rows from the tags array.
    "tts_storyaudio_theme", "tts_sceneaudio_theme", "tts_storyaudio_tags", "tts_sceneaudio_tags",
    # 0006: characters_billed of completed rows, here the same number as the metadata's.
    "tts_storyaudio_billed", "tts_sceneaudio_billed",
    # 0009: narrated_story_id from story_id; history rows have no story_id, so it writes nothing.
    "tts_storyaudio_narrated_story",
}  # fmt: skip
"""The user triggers on the tables seeded; the rows are written as these triggers would write them."""

COLUMNS = (
    "id", "prompt", "provider", "status", "model_backend", "voice_style", "tags", "theme", "theme_id", "created_at",
    "updated_at", "started_at", "completed_at", "cancelled_at", "scheduled_at", "error_message", "duration_seconds",
    "audio_metadata", "characters_billed", "attempts", "priority", "output_format", "processed_by",
)  # fmt: skip


class HistoryRefused(RuntimeError):
    """The database holds real projects; demo history must never be mixed into them."""


@dataclass(frozen=True)
class Seeded:
    stories: int
    scenes: int
    chunks: int


@dataclass(frozen=True)
class _Kind:
    """Story or scene narrations: their table, and the rows of which table they belong to."""

    name: str
    count: int
    owner: str
    owner_table: str
    owner_ids: list[int]

    @property
    def table(self) -> str:
        return f"tts_{self.name}audio"


def _owners(session: Session) -> tuple[list[int], list[int]]:
    """The history projects and their scene images, created on first use; (project ids, image ids)."""
    names = set(session.scalars(select(Project.name)))
    if names - {DEMO_PROJECT, *HISTORY_PROJECTS}:
        raise HistoryRefused(
            "This database has projects of its own, so demo history would be mixed into real data. "
            "Seed history only into a database made for the demo."
        )
    for name in HISTORY_PROJECTS:
        if name in names:
            continue
        project = Project(name=name)
        session.add(project)
        session.flush()
        for number in range(STORIES_PER_PROJECT):
            story = Story(title=f"{name[9:]} #{number + 1}", content="A story told many times.", project_id=project.id)
            session.add(story)
            session.flush()
            session.add_all(
                Image(story_id=story.id, caption=f"Scene {i + 1} of {story.title}.", image=None)
                for i in range(IMAGES_PER_STORY)
            )
    session.commit()
    projects = list(session.scalars(select(Project.id).where(Project.name.in_(HISTORY_PROJECTS))))
    images = list(
        session.scalars(select(Image.id).join(Story, Story.id == Image.story_id).where(Story.project_id.in_(projects)))
    )
    return projects, images


def _timestamps(rng: np.random.Generator, n: int, now: datetime) -> NDArray[np.datetime64]:
    """Creation times over the last DAYS days, oldest first: twice as busy today as 90 days ago, mostly 07–19 UTC."""
    # Density 2 - d/90 over d days ago: two thirds uniform, one third falling linearly with age.
    uniform = rng.random(n) < 2 / 3
    days_ago = np.where(uniform, rng.random(n), 1 - np.sqrt(rng.random(n))) * DAYS
    hour_weights = np.array([1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1], float)
    hours = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    midnight = np.datetime64(now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None), "us")
    micros = (np.floor(days_ago) * -86400 + hours * 3600 + rng.random(n) * 3600) * 1e6
    created = midnight + micros.astype("int64") * MICROSECOND
    latest = np.datetime64(now.replace(tzinfo=None), "us") - np.timedelta64(10, "m")
    shifted: NDArray[np.datetime64] = np.sort(np.where(created > latest, created - np.timedelta64(1, "D"), created))
    return shifted


def _voices() -> pd.DataFrame:
    """Every provider, model and voice of the catalogue with its share of the history: the provider's
    share, halved for each later model, split evenly over the model's voices."""
    rows = []
    for info in CATALOGUE:
        weights = [2.0**-i for i in range(len(info.models))]
        for weight, model in zip(weights, info.models, strict=True):
            share = PROVIDER_SHARE[info.id.value] * weight / sum(weights) / len(model.voices)
            rows += [(info.id.value, model.id, voice, share) for voice in model.voices]
    return pd.DataFrame(rows, columns=["provider", "model", "voice", "share"])


VOICES = _voices()
PROVIDERS = list(PROVIDER_SHARE)
ERROR_TEXTS = [CANCELLED, *(error for provider in PROVIDERS for error in ERRORS[provider])]
"""Every error_message: a cancel's, then each provider's in PROVIDERS order."""
FORMATS = ("wav", "mp3", "ogg", "flac")


def _pick(vocabulary: Any, codes: NDArray[np.integer[Any]], present: NDArray[np.bool_] | None = None) -> pa.Array:
    """vocabulary[code] for each row (NULL where not `present`), made in Arrow: a million strings
    taken from a few dozen, never a Python object per row."""
    indices = pa.array(codes, mask=None if present is None else ~present)
    return pc.take(pa.array([str(word) for word in vocabulary], pa.large_string()), indices)


def _join(*parts: str | pa.Array) -> pa.Array:
    """Strings glued row by row from constants and string columns (json.dumps per row was half the
    seeding's Python time)."""
    columns = [pa.scalar(part, pa.large_string()) if isinstance(part, str) else part for part in parts]
    return pc.binary_join_element_wise(*columns, pa.scalar("", pa.large_string()))


def _text(column: pa.Array) -> pd.Series:
    """An Arrow string column as a pandas one, without copying."""
    return pd.Series(column, dtype="str")


def _frame(rng: np.random.Generator, n: int, now: datetime) -> pd.DataFrame:
    """N rows of either kind, oldest first; owners (project or image) are added by the caller.

    Categorical columns are drawn as codes into their vocabularies (VOICES, ERROR_TEXTS, ...) and
    turned into strings by Arrow; the audio_metadata JSON is assembled column by column.
    """
    created = _timestamps(rng, n, now)
    voice = rng.choice(len(VOICES), size=n, p=VOICES["share"].to_numpy())
    provider = VOICES["provider"].map(PROVIDERS.index).to_numpy()[voice]
    characters = np.clip(rng.lognormal(np.log(700), 0.9, n), 20, 40_000).astype("int64")

    failure = np.array([FAILURE_RATE[p] for p in PROVIDERS])[provider]
    incident_start = np.datetime64(now.replace(tzinfo=None), "us") - np.timedelta64(INCIDENT_DAYS_AGO, "D")
    in_incident = (created >= incident_start) & (created < incident_start + np.timedelta64(6, "h"))
    failure = np.where(in_incident & (provider == PROVIDERS.index("openai")), 0.6, failure)
    failed = rng.random(n) < failure
    cancelled = ~failed & (rng.random(n) < 0.01)
    done = ~(failed | cancelled)
    counts = np.array([len(ERRORS[p]) for p in PROVIDERS])
    error = np.where(cancelled, 0, 1 + (np.cumsum(counts) - counts)[provider] + rng.integers(0, counts[provider]))

    busy = np.isin((created.astype("datetime64[h]").astype("int64") % 24), range(8, 18))
    wait = rng.lognormal(np.log(2.0), 1.2, n) * np.where(busy, 3.0, 1.0)
    # Seconds per request plus seconds per character: Piper at a real-time factor of 0.04, the APIs' typical pace.
    base = np.array([{"local": 0.5, "openai": 1.5, "elevenlabs": 1.0}[p] for p in PROVIDERS])[provider]
    per_char = np.array([{"local": 0.04 / 15, "openai": 1.2e-3, "elevenlabs": 0.9e-3}[p] for p in PROVIDERS])[provider]
    processing = (base + characters * per_char) * rng.lognormal(0, 0.3, n)
    processing = np.where(failed, processing * 0.3, processing)
    never_started = cancelled & (rng.random(n) < 0.5)

    def at(seconds: NDArray[np.float64]) -> NDArray[np.datetime64]:
        return created + (seconds * 1e6).astype("int64") * MICROSECOND

    started = np.where(never_started, NOT_A_TIME, at(wait))
    finished = np.where(never_started, at(wait), at(wait + processing))
    seconds = characters / 15.0 * rng.uniform(0.9, 1.1, n)
    output_format = rng.choice(len(FORMATS), size=n, p=[0.5, 0.35, 0.1, 0.05])
    number = pc.cast(pa.array(characters), pa.large_string())
    quoted = VOICES.map(json.dumps)
    metadata = _join(
        '{"format": ', _pick(map(json.dumps, FORMATS), output_format),
        ', "provider": ', _pick(quoted["provider"], voice),
        ', "model": ', _pick(quoted["model"], voice), ', "voice": ', _pick(quoted["voice"], voice),
        ', "characters": ', number, ', "characters_billed": ', number,
        ', "chunks": ', pc.cast(pa.array(1 + characters // 4096), pa.large_string()), "}",
    )  # fmt: skip
    distinct, index = np.unique(characters, return_inverse=True)
    return pd.DataFrame(
        {
            "prompt": _text(_pick([f"Demo history narration of {c:,} characters." for c in distinct], index)),
            "provider": _text(_pick(VOICES["provider"], voice)),
            "status": _text(_pick(["completed", "failed"], (~done).astype("int8"))),
            "model_backend": _text(_pick(VOICES["model"], voice)),
            "voice_style": _text(_pick(VOICES["voice"], voice)),
            "tag_set": np.where(rng.random(n) < 0.2, rng.integers(len(TAG_SETS), size=n), -1),
            "theme": _text(_pick(THEMES, rng.integers(len(THEMES), size=n), rng.random(n) < 0.3)),
            "created_at": created,
            "updated_at": finished,
            "started_at": started,
            "completed_at": finished,
            "cancelled_at": np.where(cancelled, finished, NOT_A_TIME),
            "scheduled_at": np.full(n, NOT_A_TIME),
            "error_message": _text(_pick(ERROR_TEXTS, error, ~done)),
            "duration_seconds": np.where(done, seconds.round(2), np.nan),
            "audio_metadata": _text(pc.if_else(pa.array(done), metadata, None)),
            "characters_billed": pd.Series(characters).where(done).astype("Int64"),
            "attempts": np.where(never_started, 0, rng.choice([1, 2, 3], size=n, p=[0.94, 0.05, 0.01])),
            "priority": rng.choice([-1, 0, 1], size=n, p=[0.1, 0.8, 0.1]),
            "output_format": _text(_pick(FORMATS, output_format)),
            "processed_by": _text(_pick(WORKERS, rng.integers(len(WORKERS), size=n), ~never_started)),
            "characters": characters,
        }
    )


def _schedule(frame: pd.DataFrame, rng: np.random.Generator, now: datetime) -> None:
    """Turn the last (newest) few rows into jobs queued for the coming week; they stay the newest."""
    rows = frame.index[-min(SCHEDULED, len(frame)) :]
    local = np.datetime64(now.replace(tzinfo=None), "us")
    frame.loc[rows, "scheduled_at"] = local + (rng.random(len(rows)) * 7 * 86400e6).astype("int64") * MICROSECOND
    frame.loc[rows, "created_at"] = local - np.timedelta64(5, "m")
    frame.loc[rows, "updated_at"] = local - np.timedelta64(5, "m")
    for column in ("started_at", "completed_at", "cancelled_at"):
        frame.loc[rows, column] = NOT_A_TIME
    for column in ("error_message", "duration_seconds", "audio_metadata", "characters_billed", "processed_by"):
        frame.loc[rows, column] = None
    frame.loc[rows, ["status", "provider", "model_backend", "voice_style", "attempts"]] = [
        "queued", "local", "piper:en_US-joe-medium", "joe", 0,
    ]  # fmt: skip


def _reserve_ids(cursor: Cursor[Any], table: str, n: int) -> NDArray[np.int64]:
    """N fresh ids from the table's identity sequence, ascending, so the rows and their chunks can use them."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
    (sequence,) = cursor.fetchone() or (None,)
    cursor.execute("SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)", (sequence, n))
    (ids,) = cursor.fetchone() or (None,)
    return np.sort(np.array(ids or [], dtype="int64"))  # array_agg of no rows is NULL


def _chunks(rng: np.random.Generator, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Chunks a failed job had already paid for (half of the failures that were not cancels)."""
    paid = frame[(frame["status"] == "failed") & frame["cancelled_at"].isna() & (rng.random(len(frame)) < 0.5)]
    counts = rng.integers(1, 4, size=len(paid))
    owners = np.repeat(paid["id"].to_numpy(), counts)
    idx = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    billed = np.repeat((paid["characters"].to_numpy() // 4).clip(1, 4096), counts)
    return pd.DataFrame(
        {
            f"{kind}_audio_id": owners,
            "idx": idx,
            "text": "(demo chunk)",
            "status": "done",
            "provider_calls": 1,
            "characters_billed": billed,
        }
    )


def _name_ids(session: Session, model: type[Theme] | type[Tag], names: set[str]) -> dict[str, int]:
    """Ids of these themes or tags, adding the missing ones (what the 0003 triggers would do)."""
    session.execute(insert(model).values([{"name": n} for n in sorted(names)]).on_conflict_do_nothing())
    session.commit()
    found = session.execute(select(model.name, model.id).where(model.name.in_(names)))
    return {name: row_id for name, row_id in found}


def _links(kind: str, frame: pd.DataFrame, tag_ids: dict[str, int]) -> pd.DataFrame:
    """The rows of the tag link table for the tags in the frame, by row id."""
    ids, sets = frame["id"].to_numpy(), frame["tag_set"].to_numpy()
    pairs = [
        pd.DataFrame({f"{kind}audio_id": ids[sets == number], "tag_id": tag_ids[tag]})
        for number, tags in enumerate(TAG_SETS)
        for tag in tags
    ]
    return pd.concat(pairs).sort_values([f"{kind}audio_id", "tag_id"])


@dataclass(frozen=True)
class _Names:
    """Ids of the themes and tags the history uses, by name."""

    themes: dict[str, int]
    tags: dict[str, int]


@contextmanager
def _transaction() -> Iterator[Cursor[Any]]:
    """A psycopg cursor (COPY needs psycopg's own) on a pooled connection; commits when the block succeeds."""
    connection = get_engine().raw_connection()
    try:
        psycopg_connection: Any = connection.driver_connection
        with psycopg_connection.cursor() as cursor:
            yield cursor
        psycopg_connection.commit()
    finally:
        connection.close()


def _committed(kind: _Kind, rng: np.random.Generator, names: _Names, now: datetime) -> int:
    """Load one kind's rows, tag links and paid chunks in one transaction of its own, then analyze its
    table (while the other kind may still be loading); the number of chunks.

    The rows are made before the transaction begins, so its locks are held only while rows are sent."""
    frame = _frame(rng, kind.count, now)
    if kind.name == "scene":
        _schedule(frame, rng, now)
    frame[kind.owner] = rng.choice(kind.owner_ids, size=kind.count)
    frame["theme_id"] = frame["theme"].map(names.themes).astype("Int64")
    frame["tags"] = np.array(["{" + ",".join(tags) + "}" for tags in TAG_SETS] + ["{}"])[frame["tag_set"]]
    tables = (kind.table, f"{kind.table}_tags", "tts_chunk")
    with _transaction() as cursor, triggers_skipped(cursor, tables, written_here=TRIGGERS_WRITTEN_HERE) as unchecked:
        if unchecked:
            lock_referenced(cursor, kind.owner_table, kind.owner_ids)
            lock_referenced(cursor, "tts_theme", names.themes.values())
            lock_referenced(cursor, "tts_tag", names.tags.values())
        frame.insert(0, "id", _reserve_ids(cursor, kind.table, kind.count))
        with indexes_built_after(cursor, kind.table, kind.count):
            copy_frame(cursor, kind.table, frame[[*COLUMNS, kind.owner]])
        copy_frame(cursor, f"{kind.table}_tags", _links(kind.name, frame, names.tags))
        chunks = _chunks(rng, kind.name, frame)
        copy_frame(cursor, "tts_chunk", chunks)
    _maintain(f"ANALYZE {kind.table}")
    return len(chunks)


def _maintain(command: str) -> None:
    """ANALYZE or VACUUM, as autovacuum would soon: statistics for the planner, and the visibility map
    that lets the history panels read their index alone.

    They need autocommit; SQLAlchemy's AUTOCOMMIT level is undone when the connection goes back to
    the pool (a raw `autocommit = True` was not, and left later sessions on that connection without
    transactions: maintenance's savepoints then failed).
    """
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
        autocommit.exec_driver_sql(command)


def _vacuum(kind: _Kind) -> None:
    """Only once both kinds have committed: rows are marked visible to all only when no transaction
    that began before them is still open, the other kind's load included."""
    _maintain(f"VACUUM {kind.table}")


def seed_history(rows: int, *, now: datetime | None = None, seed: int = 5) -> Seeded:
    """Add `rows` narrations of history (about 40% stories, 60% scenes) with their paid chunks.

    The rows carry what the tables' triggers would write (`TRIGGERS_WRITTEN_HERE`), so the load
    skips the triggers and the per-row foreign-key checks, and builds a small table's secondary
    indexes once after the rows are in; `db.bulk_load` says what each step locks (as a superuser,
    nothing other sessions wait for unless the indexes are rebuilt).

    Stories and scenes load each on its own connection in its own transaction, at the same time
    when the role may skip triggers (the server parses a COPY on one core, and two use both), one
    after the other when not (`may_skip_triggers` says why). Neither waits for the other to commit
    (a transaction holding locks while it waited on another could deadlock where PostgreSQL cannot
    see it), so should one kind fail, the other's history stays: complete, its rows, tag links and
    chunks committed together.
    """
    now = now or datetime.now(UTC)
    rng = np.random.default_rng(seed)
    stories = int(rng.binomial(rows, 0.4))
    with new_session() as session:
        project_ids, image_ids = _owners(session)
        names = _Names(
            _name_ids(session, Theme, set(THEMES)), _name_ids(session, Tag, {tag for tags in TAG_SETS for tag in tags})
        )
    plan = (
        _Kind("story", stories, "project_id", "project_project", project_ids),
        _Kind("scene", rows - stories, "image_id", "images_image", image_ids),
    )
    with _transaction() as cursor:
        at_once = len(plan) if may_skip_triggers(cursor) else 1
    with ThreadPoolExecutor(at_once) as pool:
        chunks = sum(pool.map(_committed, plan, rng.spawn(len(plan)), repeat(names), repeat(now)))
    with ThreadPoolExecutor(len(plan)) as pool:
        list(pool.map(_vacuum, plan))
    return Seeded(stories, rows - stories, chunks)
