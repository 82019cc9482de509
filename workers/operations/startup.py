"""Checks a process makes before it serves anyone: its settings are valid and its stores answer.

Without them a bad setting or a stopped PostgreSQL surfaced as a traceback on the first page
view (or not at all, in a background task). Each failure here is one sentence that names the
setting or the server and says what to do; no URL is shown with its password and no secret
setting's value is shown at all.
"""

from __future__ import annotations

import tomllib
from typing import Any, get_args
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationError
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from db.settings import Settings, get_settings, secrets_file
from workers.engine.store import media_store

PING_TIMEOUT_SECONDS = 5
"""How long a store may take to answer at start: long enough for a busy server, short enough that a
wrong address fails while the person who started the process still watches."""


class StartupRefused(RuntimeError):
    """The process cannot start; the message says why in sentences a person can act on."""


def masked(url: str) -> str:
    """`url` with its password replaced by `***` (the rest stays, so the address can be checked)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _scrubbed(message: str, url: str) -> str:
    """A driver's message with the URL's password removed, should the driver have repeated it."""
    password = urlsplit(url).password
    return message.replace(password, "***") if password else message


def _is_secret(name: str) -> bool:
    annotation = Settings.model_fields[name].annotation
    return annotation is SecretStr or SecretStr in get_args(annotation)


def _setting_sentence(error: Any) -> str:
    """One pydantic error as "Setting NAME ('value') is not allowed: it should ...".

    The value is left out for secret settings, and shown without its password for URLs."""
    name = str(error["loc"][0]) if error["loc"] else "?"
    reason = str(error["msg"]).removeprefix("Value error, ")
    if reason.startswith("Input should"):
        reason = "it should" + reason.removeprefix("Input should")
    shown = ""
    if name in Settings.model_fields and not _is_secret(name) and isinstance(error.get("input"), str):
        shown = f" ({masked(error['input'])!r})"
    return f"Setting {name.upper()}{shown} is not allowed: {reason.rstrip('.')}."


def load_settings() -> Settings:
    """The process's settings, or StartupRefused naming each bad one and what it allows."""
    try:
        return get_settings()
    except ValidationError as invalid:
        raise StartupRefused(" ".join(_setting_sentence(error) for error in invalid.errors())) from None
    except tomllib.TOMLDecodeError as broken:
        raise StartupRefused(
            f"The secrets file {secrets_file()} is not valid TOML ({broken}). Fix it, or move it away "
            "and set the values in the environment."
        ) from None


def ping_postgres(url: str, timeout: float = PING_TIMEOUT_SECONDS) -> None:
    """One round trip to PostgreSQL, or StartupRefused saying which server did not answer."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StartupRefused(
            "DATABASE_URL is not a URL; write it as postgresql://user:password@host:5432/database."
        ) from None
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if not parsed.drivername.startswith("postgresql"):
        raise StartupRefused(
            f"DATABASE_URL names a {parsed.drivername} database at {where}; Narration Desk needs PostgreSQL "
            "(postgresql://user:password@host:5432/database)."
        )
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": max(1, round(timeout))})
    except (ArgumentError, ImportError) as error:
        raise StartupRefused(f"DATABASE_URL cannot be used ({type(error).__name__}); fix it.") from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0].rstrip(".")
        raise StartupRefused(
            f"PostgreSQL at {where} did not answer: {_scrubbed(cause, url)}. Start it or fix DATABASE_URL."
        ) from None
    finally:
        engine.dispose()


def ping_redis(url: str, timeout: float = PING_TIMEOUT_SECONDS) -> None:
    """A PING to Redis, or StartupRefused saying which server did not answer."""
    parts = urlsplit(url)
    where = parts.path if parts.scheme == "unix" else f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    try:
        connection = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError:
        raise StartupRefused("REDIS_URL is not a Redis URL; write it as redis://host:6379/0.") from None
    try:
        connection.ping()
    except RedisError as error:
        cause = str(error).strip().splitlines()[0].rstrip(".") or type(error).__name__
        raise StartupRefused(
            f"Redis at {where} did not answer: {_scrubbed(cause, url)}. Start it or fix REDIS_URL."
        ) from None
    finally:
        connection.close()


def _bucket_problem() -> str | None:
    """Why the bucket STORAGE_URL names cannot be used, in a sentence without its error's text
    (which names the endpoint's request, never worth risking next to credentials); None if it answers."""
    store = media_store()
    try:
        store.ping()
    except Exception as error:  # obstore raises its own errors, OSError and TimeoutError alike
        return (
            f"The bucket {store.where} did not answer ({type(error).__name__}). Check STORAGE_URL and the "
            "AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY variables."
        )
    return None


def check_servers(who: str = "the dashboard") -> Settings:
    """What the dashboard needs before it serves a page, and a worker before it takes a job: valid
    settings, PostgreSQL and Redis, and the bucket when STORAGE_URL names one.

    All failures are reported together, so one restart is enough to see everything to fix."""
    settings = load_settings()
    problems: list[str] = []
    for name, url, server, ping in (
        ("DATABASE_URL", settings.database_url, "PostgreSQL", ping_postgres),
        ("REDIS_URL", settings.redis_url, "Redis", ping_redis),
    ):
        if not url:
            problems.append(f"{name} is not set; {who} needs {server} (or start `narration-desk run`).")
            continue
        try:
            ping(url)
        except StartupRefused as refused:
            problems.append(str(refused))
    if problem := _bucket_problem():
        problems.append(problem)
    if problems:
        raise StartupRefused(" ".join(problems))
    return settings
