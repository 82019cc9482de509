"""Sign-ins that outlive a browser tab: a reload or a deep link opened in a new tab stays signed in.

Streamlit forgets everything when the page reloads, and a Streamlit script cannot set a cookie. So a
password sign-in starts a session here (in Redis, shared by every dashboard on the same Redis) and
hands the page a one-time *claim*; the page loads `/narration-desk/session?claim=…` in a tiny
iframe, and that route (`dashboard/server.py`) trades the claim for an HttpOnly cookie holding the
session token. The token itself never appears in the page, and Redis keeps only its SHA-256.

Every new page load resumes from the cookie and reads the account again, and an open tab checks again
(`recheck`) on every script run and every RECHECK_SECONDS while idle: an account made inactive, a
changed role, or a changed password (as Django ends its own sessions then) takes effect within that
time, and so does a sign-out in another tab. Sign-out also loads `/narration-desk/session/end`,
which expires the cookie. The cookie is `Secure` per COOKIE_SECURE and then named with the
`__Host-` prefix, which browsers keep to this host and path `/`, so a sibling subdomain cannot set it.
Without Redis nobody is resumed (they sign in again, which works without Redis).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from db.engine import new_session
from db.models import User
from db.settings import get_settings
from workers.redis_connection import redis
from workers.service.roles import SignedIn, role_of

log = logging.getLogger(__name__)

COOKIE = "nd_session"
SECURE_COOKIE = "__Host-" + COOKIE
SESSION_PATH = "/narration-desk/session"  # served by dashboard/server.py
END_PATH = SESSION_PATH + "/end"
CLAIM_SECONDS = 120
RECHECK_SECONDS = 15
"""An idle tab checks its sign-in this often, so any change reaches it within 30 s (a click checks at once)."""


@dataclass(frozen=True)
class Started:
    """A new session: the token (for the cookie and for signing out) and its one-time claim."""

    token: str
    claim: str


def _session_key(token: str) -> str:
    return "nd:session:" + hashlib.sha256(token.encode()).hexdigest()


def _claim_key(claim: str) -> str:
    return "nd:session-claim:" + claim


def _end_key(claim: str) -> str:
    return "nd:session-end:" + claim


def cookie_secure(scheme: str) -> bool:
    """Whether the cookie is `Secure`: as COOKIE_SECURE says, else when the page was reached by https."""
    forced = get_settings().cookie_secure
    return scheme == "https" if forced is None else forced


def cookie_name(secure: bool) -> str:
    """`__Host-` only where it can be: browsers refuse that prefix on a cookie that is not `Secure`."""
    return SECURE_COOKIE if secure else COOKIE


def _password_mark(user: User) -> str:
    """Changes whenever the password does, without keeping anything that helps to guess it."""
    return hashlib.sha256(user.password.encode()).hexdigest()[:16]


def password_mark(user_id: int) -> str | None:
    """The mark of the account's password now (None: the account is gone), for a tab without a stored
    session to notice a password change."""
    with new_session() as session:
        account = session.get(User, user_id)
        return _password_mark(account) if account is not None else None


def _account(session: Session, user_id: int, mark: str | None) -> SignedIn | None:
    """The account as it is now, if it may still be signed in with the password it had (`mark`)."""
    account = session.get(User, user_id)
    role = role_of(session, account) if account is not None else None
    if account is None or role is None or _password_mark(account) != mark:
        return None
    return SignedIn(account.id, account.username, role)


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


def _resumed(token: str, record: bytes | str | None) -> SignedIn | None:
    """Who a stored session belongs to now; a session whose account may no longer sign in ends."""
    if record is None:
        return None
    saved = json.loads(record)
    with new_session() as session:
        now = _account(session, int(saved["user_id"]), saved["password"])
    if now is None:
        end(token)
    return now


def resume(token: str | None) -> SignedIn | None:
    """Who the cookie's session belongs to, read afresh from `auth_user`; None when there is no such
    session any more, or its account is inactive, no longer staff or a viewer, or has a new password
    (the session then ends)."""
    if not token:
        return None
    try:
        record = redis().get(_session_key(token))
    except RedisError as error:
        log.warning("cannot resume a sign-in without Redis (%s)", error)
        return None
    return _resumed(token, record)


def recheck(user: SignedIn, *, token: str | None, mark: str | None) -> SignedIn | None:
    """Who an open tab's user is now (perhaps with another role), or None: the tab is signed out.

    A tab with a stored session (`token`) is checked as a reload would be, so a sign-out in another
    tab ends it too. Single sign-on tabs and tabs signed in while Redis was away have no session:
    their account is read by id and compared with the password `mark` the tab started with. While
    Redis is unreachable a session cannot be looked up, so its account is checked the same way
    rather than signing every tab out during the outage."""
    if token:
        try:
            record = redis().get(_session_key(token))
        except RedisError as error:
            log.warning("cannot look up the stored session (%s); checking the account alone", error)
        else:
            return _resumed(token, record)
    with new_session() as session:
        return _account(session, user.user_id, mark)


def end(token: str | None) -> None:
    """Sign-out: the session is gone for every tab that holds its cookie."""
    if token:
        try:
            redis().delete(_session_key(token))
        except RedisError as error:
            log.warning("could not end the stored session (%s); it expires by itself", error)


def alive(token: str | None) -> bool:
    """Whether the token's session is still stored (False when Redis cannot say: a cookie is of no
    use then anyway, as nobody is resumed without Redis)."""
    if not token:
        return False
    try:
        return bool(redis().exists(_session_key(token)))
    except RedisError:
        return False


def clearing() -> str | None:
    """A one-time claim for the page's frame that clears the cookie after a sign-out; the page shows
    the frame until the route has used it. None without Redis (then the page shows it once)."""
    claim = secrets.token_urlsafe(32)
    try:
        redis().set(_end_key(claim), "1", ex=CLAIM_SECONDS)
    except RedisError:
        return None
    return claim


def cleared(claim: str) -> None:
    """The route has cleared the cookie: the page may stop loading it."""
    if claim:
        try:
            redis().delete(_end_key(claim))
        except RedisError as error:
            log.warning("could not mark the sign-out cookie as cleared (%s)", error)


def clearing_pending(claim: str) -> bool:
    try:
        return bool(redis().exists(_end_key(claim)))
    except RedisError:
        return False
