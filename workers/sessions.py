"""Sign-ins that outlive a browser tab: a reload or a deep link opened in a new tab stays signed in.

Streamlit forgets everything when the page reloads, and a Streamlit script cannot set a cookie. So a
password sign-in starts a session here (in Redis, shared by every dashboard on the same Redis) and
hands the page a one-time *claim*; the page loads `/narration-desk/session?claim=…` in a tiny
iframe, and that route (`dashboard/server.py`) trades the claim for an HttpOnly cookie holding the
session token. The token itself never appears in the page, and Redis keeps only its SHA-256.

Every new page load resumes from the cookie and reads the account again: an account made inactive,
a changed role, or a changed password (as Django ends its own sessions then) takes effect at the next
reload. Without Redis nobody is resumed (they sign in again, which works without Redis).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from redis.exceptions import RedisError

from db.engine import new_session
from db.models import User
from db.settings import get_settings
from workers.queue import redis
from workers.signin import SignedIn, role_of

log = logging.getLogger(__name__)

COOKIE = "nd_session"
SESSION_PATH = "/narration-desk/session"  # served by dashboard/server.py
CLAIM_SECONDS = 120


@dataclass(frozen=True)
class Started:
    """A new session: the token (for the cookie and for signing out) and its one-time claim."""

    token: str
    claim: str


def _session_key(token: str) -> str:
    return "nd:session:" + hashlib.sha256(token.encode()).hexdigest()


def _claim_key(claim: str) -> str:
    return "nd:session-claim:" + claim


def _password_mark(user: User) -> str:
    """Changes whenever the password does, without keeping anything that helps to guess it."""
    return hashlib.sha256(user.password.encode()).hexdigest()[:16]


def lifetime_seconds() -> int:
    return round(get_settings().session_hours * 3600)


def start(user: SignedIn) -> Started | None:
    """A session for someone who just signed in, or None when Redis is away (they stay signed in
    to this tab only) or the account has just gone."""
    with new_session() as session:
        account = session.get(User, user.user_id)
        if account is None:  # deleted in the Django app a moment ago: nothing to keep
            return None
        mark = _password_mark(account)
    started = Started(token=secrets.token_urlsafe(32), claim=secrets.token_urlsafe(32))
    record = json.dumps({"user_id": user.user_id, "password": mark})
    try:
        pipe = redis().pipeline()
        pipe.set(_session_key(started.token), record, ex=lifetime_seconds())
        pipe.set(_claim_key(started.claim), started.token, ex=CLAIM_SECONDS)
        pipe.execute()
    except RedisError as error:
        log.warning("sign-in kept to this tab: sessions need Redis (%s)", error)
        return None
    return started


def redeem(claim: str) -> str | None:
    """The session token for a claim, once; None for an unknown, used or expired claim."""
    if not claim:
        return None
    try:
        token = redis().getdel(_claim_key(claim))
    except RedisError as error:
        log.warning("cannot hand out the sign-in cookie without Redis (%s)", error)
        return None
    return token.decode() if isinstance(token, bytes) else token


def pending(claim: str) -> bool:
    """Whether the page has yet to trade its claim for the cookie."""
    try:
        return bool(redis().exists(_claim_key(claim)))
    except RedisError:
        return False


def resume(token: str | None) -> SignedIn | None:
    """Who the cookie's session belongs to, read afresh from `auth_user`; None when there is no such
    session any more, or its account is inactive or has a new password (the session then ends)."""
    if not token:
        return None
    try:
        record = redis().get(_session_key(token))
    except RedisError as error:
        log.warning("cannot resume a sign-in without Redis (%s)", error)
        return None
    if record is None:
        return None
    saved = json.loads(record)
    with new_session() as session:
        account = session.get(User, int(saved["user_id"]))
        role = role_of(session, account) if account is not None else None
        if account is not None and role is not None and _password_mark(account) == saved["password"]:
            return SignedIn(account.id, account.username, role)
    end(token)
    return None


def end(token: str | None) -> None:
    """Sign-out: the session is gone for every tab that holds its cookie."""
    if token:
        try:
            redis().delete(_session_key(token))
        except RedisError as error:
            log.warning("could not end the stored session (%s); it expires by itself", error)
