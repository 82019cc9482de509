"""Monitoring aggregates against a small hand-built history whose answers are worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from db.engine import get_engine, new_session
from db.monitoring import (
    AudioHours,
    Billed,
    ErrorCount,
    FailureRate,
    Failures,
    HistoryFilters,
    Latency,
    ProviderCount,
    StatusCount,
    audio_hours,
    billed_characters,
    failure_rate,
    failures,
    jobs_with_error,
    latency,
    provider_over_time,
    status_over_time,
    top_errors,
)
from db.window import Window, bucket_for
from tests.factories import demo_data
from workers.engine.costs import costs

T = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CANCELLED_TEXT = "Cancelled before it finished."
TWO_HOURS = Window(T, T + timedelta(hours=2), timedelta(hours=1))
S = timedelta(seconds=1)


def add(
    kind: str,
    provider: str,
    status: str,
    created: datetime,
    *,
    model: str = "tts-1",
    wait: float | None = None,
    processing: float | None = None,
    error: str | None = None,
    duration: float | None = None,
    billed: int | None = None,
    project: int = 1,
    story: int = 1,
    image: int = 1,
    cancelled: bool = False,
) -> int:
    """One narration row as a worker would have left it (a failure ends when it starts, or when it
    is created if it never started, unless `processing` says otherwise); returns its id.
    A story narration is of `story` and stamped with `project` (which need not be its story's)."""
    started = created + wait * S if wait is not None else None
    completed = started + processing * S if started is not None and processing is not None else None
    if status == "failed" and completed is None:
        completed = started or created
    owner = ("project_id, narrated_story_id", ":project, :story") if kind == "story" else ("image_id", ":image")
    values: dict[str, Any] = {
        "provider": provider, "status": status, "model": model, "created": created, "started": started,
        "completed": completed, "error": error, "duration": duration, "project": project, "story": story,
        "image": image,
        "metadata": json.dumps({"characters_billed": billed}) if billed is not None else None,
        "cancelled": (completed or created) if cancelled else None,
    }  # fmt: skip
    with get_engine().begin() as connection:
        return int(
            connection.execute(
                text(
                    f"INSERT INTO tts_{kind}audio (prompt, provider, status, model_backend, tags, created_at, "
                    f"updated_at, started_at, completed_at, error_message, duration_seconds, audio_metadata, "
                    f"cancelled_at, {owner[0]}) VALUES ('Some words.', :provider, :status, :model, '{{}}', :created, "
                    ":created, :started, :completed, :error, :duration, CAST(:metadata AS jsonb), :cancelled, "
                    f"{owner[1]}) RETURNING id"
                ),
                values,
            ).scalar_one()
        )


@pytest.fixture
def history(db: str) -> Iterator[dict[str, int]]:
    """Nine jobs between 10:00 and 11:40 UTC on 2 March 2026, and one the day before."""
    demo_data()
    made = {
        "ok1": add("story", "openai", "completed", T, wait=10, processing=60, duration=60, billed=1000),
        "bad_key1": add("story", "openai", "failed", T + timedelta(minutes=30), wait=20, processing=1,
                        error="Bad key."),
        # The last instant of the 10:00 bucket, and the first of the 11:00 one.
        "ok2": add("scene", "openai", "completed", T + timedelta(hours=1) - timedelta(microseconds=1),
                   model="tts-1-hd", wait=30, processing=120, duration=120, billed=2000),
        "ok3": add("scene", "elevenlabs", "completed", T + timedelta(hours=1), model="eleven_flash_v2_5",
                   wait=40, processing=30, duration=1800, billed=500),
        "bad_key2": add("scene", "elevenlabs", "failed", T + timedelta(minutes=70), model="eleven_flash_v2_5",
                        wait=50, error="Bad key."),
        "queued": add("story", "local", "queued", T + timedelta(minutes=80), model="piper:en_US-joe-medium"),
        "running": add("story", "local", "processing", T + timedelta(minutes=90), model="piper:en_US-joe-medium",
                       wait=5),
        "quota": add("scene", "openai", "failed", T + timedelta(minutes=100), error="Quota exhausted."),
        "yesterday": add("story", "openai", "completed", T - timedelta(days=1), wait=1, processing=1, billed=9),
    }  # fmt: skip
    with get_engine().begin() as connection:  # the failed job had paid for two chunks before failing
        connection.execute(
            text(
                "INSERT INTO tts_chunk (scene_audio_id, idx, text, characters_billed) "
                "VALUES (:id, 0, 'a', 300), (:id, 1, 'b', 200), (:id, 2, 'c', NULL)"
            ),
            {"id": made["quota"]},
        )
    yield made


def hour(h: int) -> datetime:
    return T.replace(hour=h)


def test_jobs_by_status_per_bucket_with_exact_edges(history: dict[str, int]) -> None:
    with new_session() as session:
        found = status_over_time(session, TWO_HOURS, HistoryFilters())
    assert found == [
        StatusCount(hour(10), queued=0, processing=0, completed=2, failed=1, cancelled=0),
        StatusCount(hour(11), queued=1, processing=1, completed=1, failed=2, cancelled=0),
    ]


def test_a_cancelled_job_is_cancelled_and_moves_no_failure_rate(history: dict[str, int]) -> None:
    """Staff cancel two openai jobs, one while it ran: they show as cancelled, never as failed."""
    with new_session() as session:
        before = failure_rate(session, TWO_HOURS, HistoryFilters())
    add("story", "openai", "failed", T + timedelta(minutes=10), wait=5, processing=3, error=CANCELLED_TEXT,
        cancelled=True)  # fmt: skip
    add("scene", "local", "failed", T + timedelta(minutes=95), error=CANCELLED_TEXT, cancelled=True)
    with new_session() as session:
        statuses = status_over_time(session, TWO_HOURS, HistoryFilters())
        rates = failure_rate(session, TWO_HOURS, HistoryFilters())
        errors = top_errors(session, TWO_HOURS, HistoryFilters())
        cancelled_jobs = jobs_with_error(session, TWO_HOURS, HistoryFilters(), CANCELLED_TEXT)
    assert statuses == [
        StatusCount(hour(10), queued=0, processing=0, completed=2, failed=1, cancelled=1),
        StatusCount(hour(11), queued=1, processing=1, completed=1, failed=2, cancelled=1),
    ]
    assert [s.jobs for s in statuses] == [4, 6]
    assert rates == before, "the 11:00 local bucket has only a cancel: no rate at all, not 100 %"
    assert CANCELLED_TEXT not in [e.message for e in errors] and cancelled_jobs == []


def test_jobs_by_provider(history: dict[str, int]) -> None:
    with new_session() as session:
        found = provider_over_time(session, TWO_HOURS, HistoryFilters())
    assert found == [
        ProviderCount(hour(10), "openai", 3),
        ProviderCount(hour(11), "elevenlabs", 2),
        ProviderCount(hour(11), "local", 2),
        ProviderCount(hour(11), "openai", 1),
    ]


def test_failure_rate_counts_finished_jobs_when_they_finish(history: dict[str, int]) -> None:
    """The agreed definition (`failure_share`): jobs placed by `completed_at`, queued and running in
    neither count. ok2, asked for at 10:59:59.999999, finished at 11:02:30: it counts at 11:00."""
    with new_session() as session:
        found = failure_rate(session, TWO_HOURS, HistoryFilters())
        summed = failures(session, TWO_HOURS, HistoryFilters())
    assert found == [
        FailureRate(hour(10), "openai", 1, 2, 0.5),
        FailureRate(hour(11), "elevenlabs", 1, 2, 0.5),
        FailureRate(hour(11), "openai", 1, 2, 0.5),
    ]
    assert summed == [Failures("elevenlabs", 1, 2), Failures("openai", 2, 4)], "the alert's figure is the chart's"


def test_a_bulk_cancel_moves_neither_the_chart_nor_the_alert(history: dict[str, int]) -> None:
    """Staff cancel many jobs at once: the chart's failure rate and the alert's (and the headline's,
    its sum) stay as they were."""
    with new_session() as session:
        chart, alert = (
            failure_rate(session, TWO_HOURS, HistoryFilters()),
            failures(session, TWO_HOURS, HistoryFilters()),
        )
    for minute in range(0, 120, 5):
        add("story", "openai", "failed", T + timedelta(minutes=minute), error=CANCELLED_TEXT, cancelled=True)
    with new_session() as session:
        assert failure_rate(session, TWO_HOURS, HistoryFilters()) == chart
        assert failures(session, TWO_HOURS, HistoryFilters()) == alert


def test_top_errors_and_the_jobs_behind_one(history: dict[str, int]) -> None:
    with new_session() as session:
        errors = top_errors(session, TWO_HOURS, HistoryFilters())
        jobs = jobs_with_error(session, TWO_HOURS, HistoryFilters(), "Bad key.")
    assert errors == [
        ErrorCount("Bad key.", 2, T + timedelta(minutes=70)),
        ErrorCount("Quota exhausted.", 1, T + timedelta(minutes=100)),
    ]
    assert [(j.kind, j.id) for j in jobs] == [("scene", history["bad_key2"]), ("story", history["bad_key1"])]


def test_latency_percentiles_per_provider(history: dict[str, int]) -> None:
    with new_session() as session:
        found = {row.provider: row for row in latency(session, TWO_HOURS, HistoryFilters())}
    # openai waits 10, 20, 30 s: p95 = 20 + 0.9 × 10; processing (completed only) 60 and 120 s.
    assert found["openai"] == Latency("openai", 3, 20.0, pytest.approx(29.0), 90.0, pytest.approx(117.0))  # type: ignore[arg-type]
    assert found["elevenlabs"] == Latency("elevenlabs", 2, 45.0, pytest.approx(49.5), 30.0, 30.0)  # type: ignore[arg-type]
    assert found["local"] == Latency("local", 1, 5.0, 5.0, None, None)


def test_characters_billed_and_their_cost(history: dict[str, int]) -> None:
    with new_session() as session:
        billed = billed_characters(session, TWO_HOURS, HistoryFilters())
    day = T.replace(hour=0)
    assert billed == [
        Billed(day, "elevenlabs", "eleven_flash_v2_5", 500),
        # 1,000 from a completed job, 300 + 200 from the chunks a failed job paid for.
        Billed(day, "openai", "tts-1", 1500),
        Billed(day, "openai", "tts-1-hd", 2000),
    ]
    priced = costs([*billed, Billed(day, "openai", "tts-9", 10)])
    by_provider = {c.provider: c for c in priced.daily}
    assert by_provider["openai"].characters == 3510
    assert by_provider["openai"].usd == pytest.approx(1500 * 15e-6 + 2000 * 30e-6)  # $15 and $30 per million
    assert by_provider["elevenlabs"].usd == pytest.approx(500 * 150e-6)
    assert priced.total_usd == pytest.approx(0.0225 + 0.06 + 0.075)
    assert priced.unpriced_models == ["openai/tts-9"]


def test_audio_hours_per_day(history: dict[str, int]) -> None:
    with new_session() as session:
        found = audio_hours(session, TWO_HOURS, HistoryFilters())
    assert found == [AudioHours(T.replace(hour=0), pytest.approx((60 + 120 + 1800) / 3600))]  # type: ignore[arg-type]


def test_filters_by_provider_model_and_project(history: dict[str, int]) -> None:
    with get_engine().begin() as connection:  # a second project, with one story, image and narration of each kind
        connection.execute(
            text(
                "INSERT INTO project_project (id, name) OVERRIDING SYSTEM VALUE VALUES (2, 'Other');"
                "INSERT INTO story_story (id, title, content, project_id) OVERRIDING SYSTEM VALUE "
                "VALUES (99, 'Elsewhere', 'x', 2);"
                "INSERT INTO images_image (id, caption, story_id) OVERRIDING SYSTEM VALUE VALUES (99, 'y', 99);"
            )
        )
    # Stamped with project 1, but its story is in project 2: it belongs to project 2, as in the library.
    add("story", "openai", "completed", T, project=1, story=99)
    add("scene", "openai", "failed", T, image=99)

    def totals(filters: HistoryFilters) -> list[tuple[int, int]]:
        with new_session() as session:
            return [(r.completed, r.failed) for r in status_over_time(session, TWO_HOURS, filters)]

    assert totals(HistoryFilters(project_id=2)) == [(1, 1)]
    assert totals(HistoryFilters(project_id=1)) == [(2, 1), (1, 2)]
    assert totals(HistoryFilters(provider="elevenlabs")) == [(1, 1)]
    assert totals(HistoryFilters(model="tts-1-hd")) == [(1, 0)]
    assert totals(HistoryFilters(provider="elevenlabs", model="tts-1")) == []


def test_daily_buckets_follow_local_midnight_across_a_dst_change(db: str) -> None:
    """New York moves to summer time on 8 March 2026: that day has 23 hours."""
    demo_data()
    for created in ("2026-03-08T04:30Z", "2026-03-08T05:30Z", "2026-03-09T03:30Z", "2026-03-09T04:30Z"):
        add("story", "local", "queued", datetime.fromisoformat(created))
    start, end = datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC)

    def buckets(tz: str) -> list[tuple[str, int]]:
        with new_session() as session:
            rows = status_over_time(session, Window(start, end, timedelta(days=1), tz), HistoryFilters())
        return [(r.bucket.astimezone(UTC).isoformat(), r.queued) for r in rows]

    assert buckets("America/New_York") == [
        ("2026-03-07T05:00:00+00:00", 1),  # 23:30 on the 7th, winter time
        ("2026-03-08T05:00:00+00:00", 2),  # 00:30 winter time and 23:30 summer time on the 8th
        ("2026-03-09T04:00:00+00:00", 1),  # 00:30 on the 9th, summer time
    ]
    assert buckets("UTC") == [("2026-03-08T00:00:00+00:00", 2), ("2026-03-09T00:00:00+00:00", 2)]


def test_hourly_buckets_start_on_the_local_hour_in_a_half_hour_zone(db: str) -> None:
    """India is UTC+5:30, so its hours start at half past in UTC."""
    demo_data()
    add("story", "local", "queued", T + timedelta(minutes=29))
    add("story", "local", "queued", T + timedelta(minutes=30))
    window = Window(T - timedelta(hours=1), T + timedelta(hours=2), timedelta(hours=1), "Asia/Kolkata")
    with new_session() as session:
        rows = status_over_time(session, window, HistoryFilters())
    assert [(r.bucket, r.queued) for r in rows] == [(T - timedelta(minutes=30), 1), (T + timedelta(minutes=30), 1)]


@pytest.mark.parametrize(
    ("span", "bucket"),
    [
        (timedelta(hours=1), timedelta(minutes=1)),
        (timedelta(hours=24), timedelta(hours=1)),
        (timedelta(days=7), timedelta(hours=6)),
        (timedelta(days=30), timedelta(days=1)),
        (timedelta(days=365), timedelta(days=7)),
    ],
)
def test_the_bucket_fits_the_range(span: timedelta, bucket: timedelta) -> None:
    assert bucket_for(span) == bucket


def test_windows_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="not a time zone"):
        Window(T, T + S, S, "Mars/Olympus")
    with pytest.raises(ValueError, match="end after it starts"):
        Window(T, T, S)
    assert Window.month_to_date(now=T, tz="Asia/Tokyo").start == datetime(2026, 3, 1, tzinfo=UTC) - timedelta(hours=9)


def test_a_row_completed_without_a_bill_is_billed_its_prompt_length(db: str) -> None:
    """As the Django app completes rows: no metadata, no characters_billed; the trigger fills it in."""
    demo_data()
    row_id = add("story", "openai", "completed", T, wait=1, processing=1)
    redone = add("scene", "openai", "completed", T, wait=1, processing=1, billed=40)
    with get_engine().begin() as connection:  # completed again after a retry, with a new bill
        connection.execute(
            text(
                "UPDATE tts_sceneaudio SET characters_billed = NULL, "
                "audio_metadata = '{\"characters_billed\": 70}' WHERE id = :id"
            ),
            {"id": redone},
        )
    with new_session() as session:
        assert session.scalar(text(f"SELECT characters_billed FROM tts_storyaudio WHERE id = {row_id}")) == len(
            "Some words."
        )
        billed = billed_characters(session, TWO_HOURS, HistoryFilters())
    assert billed == [Billed(T.replace(hour=0), "openai", "tts-1", 11 + 70)]
