"""`seed-demo --rows N`: months of realistic narration history, for the operations page and its benchmark.

Rows are generated column by column with numpy and streamed in with COPY, so a million take
seconds, not the hours row-by-row inserts would. The history spans 90 days, grows towards today,
is busiest in working hours, has one provider incident, and mixes providers, models, voices,
statuses, latencies and the error messages the workers really write. Only finished jobs are
made, plus a few scheduled for the coming week: no worker picks up old demo rows as live work.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from db.engine import get_engine, new_session
from db.models import Image, Project, Story, Tag, Theme
from db.seed import DEMO_PROJECT
from workers.catalogue import CATALOGUE

HISTORY_PROJECTS = ("History: Fables", "History: Mysteries", "History: Bedtime")
STORIES_PER_PROJECT = 10
IMAGES_PER_STORY = 5
DAYS = 90
BATCH = 100_000
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
    """Creation times over the last DAYS days: twice as busy today as 90 days ago, mostly 07–19 UTC."""
    # Density 2 - d/90 over d days ago: two thirds uniform, one third falling linearly with age.
    uniform = rng.random(n) < 2 / 3
    days_ago = np.where(uniform, rng.random(n), 1 - np.sqrt(rng.random(n))) * DAYS
    hour_weights = np.array([1, 1, 1, 1, 1, 2, 3, 6, 9, 10, 10, 10, 9, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1, 1], float)
    hours = rng.choice(24, size=n, p=hour_weights / hour_weights.sum())
    midnight = np.datetime64(now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None), "us")
    micros = (np.floor(days_ago) * -86400 + hours * 3600 + rng.random(n) * 3600) * 1e6
    created = midnight + micros.astype("int64") * MICROSECOND
    latest = np.datetime64(now.replace(tzinfo=None), "us") - np.timedelta64(10, "m")
    shifted: NDArray[np.datetime64] = np.where(created > latest, created - np.timedelta64(1, "D"), created)
    return shifted


def _where(mask: NDArray[np.bool_], values: NDArray[Any]) -> NDArray[np.object_]:
    """`values` where the mask holds, NULL elsewhere."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = values[mask]
    return out


def _frame(rng: np.random.Generator, n: int, now: datetime) -> pd.DataFrame:
    """N rows of either kind; owners (project or image) are added by the caller."""
    providers = rng.choice(list(PROVIDER_SHARE), size=n, p=list(PROVIDER_SHARE.values()))
    models = np.empty(n, dtype=object)
    voices = np.empty(n, dtype=object)
    errors = np.empty(n, dtype=object)
    for info in CATALOGUE:
        mine = np.flatnonzero(providers == info.id.value)
        errors[mine] = rng.choice(ERRORS[info.id.value], size=len(mine))
        weights = np.array([2.0**-i for i in range(len(info.models))])
        picked = rng.choice(len(info.models), size=len(mine), p=weights / weights.sum())
        for number, model in enumerate(info.models):
            rows = mine[picked == number]
            models[rows] = model.id
            voices[rows] = rng.choice(model.voices, size=len(rows))
    created = _timestamps(rng, n, now)
    characters = np.clip(rng.lognormal(np.log(700), 0.9, n), 20, 40_000).astype("int64")

    by_provider = pd.Series(providers)
    failure = by_provider.map(FAILURE_RATE).to_numpy()
    incident_start = np.datetime64(now.replace(tzinfo=None), "us") - np.timedelta64(INCIDENT_DAYS_AGO, "D")
    in_incident = (created >= incident_start) & (created < incident_start + np.timedelta64(6, "h"))
    failure = np.where(in_incident & (providers == "openai"), 0.6, failure)
    failed = rng.random(n) < failure
    cancelled = ~failed & (rng.random(n) < 0.01)
    status = np.where(failed | cancelled, "failed", "completed")

    busy = np.isin((created.astype("datetime64[h]").astype("int64") % 24), range(8, 18))
    wait = rng.lognormal(np.log(2.0), 1.2, n) * np.where(busy, 3.0, 1.0)
    # Seconds per request plus seconds per character: Piper at a real-time factor of 0.04, the APIs' typical pace.
    base = by_provider.map({"local": 0.5, "openai": 1.5, "elevenlabs": 1.0}).to_numpy()
    per_char = by_provider.map({"local": 0.04 / 15, "openai": 1.2e-3, "elevenlabs": 0.9e-3}).to_numpy()
    processing = (base + characters * per_char) * rng.lognormal(0, 0.3, n)
    processing = np.where(failed, processing * 0.3, processing)
    never_started = cancelled & (rng.random(n) < 0.5)

    def at(seconds: NDArray[np.float64]) -> NDArray[np.datetime64]:
        return created + (seconds * 1e6).astype("int64") * MICROSECOND

    started = np.where(never_started, NOT_A_TIME, at(wait))
    finished = np.where(never_started, at(wait), at(wait + processing))
    seconds = characters / 15.0 * rng.uniform(0.9, 1.1, n)
    formats = rng.choice(["wav", "mp3", "ogg", "flac"], size=n, p=[0.5, 0.35, 0.1, 0.05])
    done = status == "completed"
    metadata = [
        json.dumps({"format": f, "provider": p, "model": m, "voice": v, "characters": int(c),
                    "characters_billed": int(c), "chunks": 1 + int(c) // 4096})
        if ok else None
        for f, p, m, v, c, ok in zip(formats, providers, models, voices, characters, done, strict=True)
    ]  # fmt: skip
    return pd.DataFrame(
        {
            "prompt": [f"Demo history narration of {c:,} characters." for c in characters],
            "provider": providers,
            "status": status,
            "model_backend": models,
            "voice_style": voices,
            "tag_set": np.where(rng.random(n) < 0.2, rng.integers(len(TAG_SETS), size=n), -1),
            "theme": _where(rng.random(n) < 0.3, rng.choice(THEMES, size=n)),
            "created_at": created,
            "updated_at": finished,
            "started_at": started,
            "completed_at": finished,
            "cancelled_at": np.where(cancelled, finished, NOT_A_TIME),
            "scheduled_at": np.full(n, NOT_A_TIME),
            "error_message": np.where(cancelled, CANCELLED, _where(failed, errors)),
            "duration_seconds": np.where(done, seconds.round(2), np.nan),
            "audio_metadata": metadata,
            "characters_billed": pd.Series(characters).where(done).astype("Int64"),
            "attempts": np.where(never_started, 0, rng.choice([1, 2, 3], size=n, p=[0.94, 0.05, 0.01])),
            "priority": rng.choice([-1, 0, 1], size=n, p=[0.1, 0.8, 0.1]),
            "output_format": formats,
            "processed_by": _where(~never_started, rng.choice(WORKERS, size=n)),
            "characters": characters,
        }
    )


def _schedule(frame: pd.DataFrame, rng: np.random.Generator, now: datetime) -> None:
    """Turn the last few rows into jobs queued for the coming week."""
    rows = frame.index[-min(SCHEDULED, len(frame)) :]
    local = np.datetime64(now.replace(tzinfo=None), "us")
    frame.loc[rows, "scheduled_at"] = local + (rng.random(len(rows)) * 7 * 86400e6).astype("int64") * MICROSECOND
    frame.loc[rows, "created_at"] = local - np.timedelta64(5, "m")
    frame.loc[rows, "updated_at"] = local - np.timedelta64(5, "m")
    for column in ("started_at", "completed_at", "cancelled_at"):
        frame.loc[rows, column] = NOT_A_TIME
    for column in ("error_message", "duration_seconds", "audio_metadata", "processed_by"):
        frame.loc[rows, column] = None
    frame.loc[rows, ["status", "provider", "model_backend", "voice_style", "attempts"]] = [
        "queued", "local", "piper:en_US-joe-medium", "joe", 0,
    ]  # fmt: skip


def _csv(frame: pd.DataFrame) -> str:
    """The frame as COPY's CSV: timestamps in ISO 8601 UTC, NULL as an empty unquoted field."""
    out = frame.copy()
    for column in out.columns:
        values = out[column].to_numpy()
        if np.issubdtype(values.dtype, np.datetime64):
            out[column] = _where(~np.isnat(values), np.datetime_as_string(values, unit="us", timezone="UTC"))
    buffer = io.StringIO()
    out.to_csv(buffer, header=False, index=False)
    return buffer.getvalue()


def _copy(cursor: Any, table: str, frame: pd.DataFrame) -> None:
    """Stream the frame into the table with COPY, a batch at a time; a thread sends while the next batch is made."""
    sql = f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN (FORMAT csv)"
    with cursor.copy(sql, writer=QueuedLibpqWriter(cursor)) as copy:
        for start in range(0, len(frame), BATCH):
            copy.write(_csv(frame.iloc[start : start + BATCH]))


def _reserve_ids(session: Session, table: str, n: int) -> NDArray[np.int64]:
    """N fresh ids from the table's identity sequence, so the chunk rows can point at them."""
    sequence = session.scalar(select(func.pg_get_serial_sequence(table, "id")))
    ids = session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, n))).all()
    session.commit()
    return np.array(ids, dtype="int64")


def _chunks(rng: np.random.Generator, kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Chunks a failed job had already paid for (half of the failures that were not cancels)."""
    paid = frame[(frame["status"] == "failed") & frame["cancelled_at"].isna() & (rng.random(len(frame)) < 0.5)]
    counts = rng.integers(1, 4, size=len(paid))
    owners = np.repeat(paid["id"].to_numpy(), counts)
    idx = np.concatenate([np.arange(c) for c in counts]) if len(counts) else np.array([], dtype="int64")
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
    """The rows of the tag link table for the tags in the frame."""
    pairs = [
        (row_id, tag_ids[tag])
        for row_id, tag_set in zip(frame["id"], frame["tag_set"], strict=True)
        if tag_set >= 0
        for tag in TAG_SETS[tag_set]
    ]
    return pd.DataFrame(pairs, columns=[f"{kind}audio_id", "tag_id"])


def seed_history(rows: int, *, now: datetime | None = None, seed: int = 5) -> Seeded:
    """Add `rows` narrations of history (about 40% stories, 60% scenes) with their paid chunks.

    The tag and theme triggers of migration 0003 would run three statements per row; instead they
    are disabled inside the one transaction that copies the rows, and `theme_id` and the tag links
    are written directly, as the triggers would have. ALTER TABLE locks both tables until that
    transaction commits, so no other writer can insert a row while the triggers are off.
    """
    now = now or datetime.now(UTC)
    rng = np.random.default_rng(seed)
    stories = int(rng.binomial(rows, 0.4))
    plan = (("story", stories, "project_id"), ("scene", rows - stories, "image_id"))
    with new_session() as session:
        owners = dict(zip(("project_id", "image_id"), _owners(session), strict=True))
        theme_ids = _name_ids(session, Theme, set(THEMES))
        tag_ids = _name_ids(session, Tag, {tag for tags in TAG_SETS for tag in tags})
        ids = {kind: _reserve_ids(session, f"tts_{kind}audio", count) for kind, count, _ in plan}
    connection = get_engine().raw_connection()
    made = Seeded(stories, rows - stories, 0)
    try:
        psycopg_connection: Any = connection.driver_connection
        with psycopg_connection.cursor() as cursor:
            for kind, _, _ in plan:
                cursor.execute(f"ALTER TABLE tts_{kind}audio DISABLE TRIGGER USER")
            for kind, count, owner in plan:
                frame = _frame(rng, count, now)
                if kind == "scene":
                    _schedule(frame, rng, now)
                frame.insert(0, "id", ids[kind])
                frame[owner] = rng.choice(owners[owner], size=count)
                frame["theme_id"] = frame["theme"].map(theme_ids).astype("Int64")
                frame["tags"] = ["{" + ",".join(TAG_SETS[t]) + "}" if t >= 0 else "{}" for t in frame["tag_set"]]
                _copy(cursor, f"tts_{kind}audio", frame[[*COLUMNS, owner]])
                _copy(cursor, f"tts_{kind}audio_tags", _links(kind, frame, tag_ids))
                chunks = _chunks(rng, kind, frame)
                _copy(cursor, "tts_chunk", chunks)
                made = Seeded(made.stories, made.scenes, made.chunks + len(chunks))
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # run the deferred FK checks before ALTER TABLE
            for kind, _, _ in plan:
                cursor.execute(f"ALTER TABLE tts_{kind}audio ENABLE TRIGGER USER")
        psycopg_connection.commit()
    finally:
        connection.close()
    # As autovacuum would soon: statistics for the planner, and the visibility map that lets the
    # history panels read their index alone. VACUUM needs autocommit; SQLAlchemy's AUTOCOMMIT level is
    # undone when the connection goes back to the pool (a raw `autocommit = True` was not, and left
    # later sessions on that connection without transactions: maintenance's savepoints then failed).
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit:
        for kind, _, _ in plan:
            autocommit.exec_driver_sql(f"VACUUM (ANALYZE) tts_{kind}audio")
    return made
