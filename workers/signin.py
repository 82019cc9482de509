"""Signing staff in: Django's users and password hashes, roles, and throttled failures.

Failures are counted in Redis per username and per client address for a quarter of an hour; past
the limit, sign-in is refused with how long to wait, even with the right password. If Redis is
unreachable the limit cannot be counted and sign-in still works (logged), so an outage of the queue
does not lock staff out of the library.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from enum import StrEnum

from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.engine import new_session
from db.models import User
from db.settings import get_settings
from db.users import authenticate, in_group
from workers.queue import redis

log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20


class Role(StrEnum):
    """What a signed-in person may do: read; compose and retry; also delete and run maintenance."""

    VIEWER = "viewer"
    STAFF = "staff"
    SUPERUSER = "superuser"


@dataclass(frozen=True)
class SignedIn:
    """Who is using the page (kept in Streamlit's session state; no secret in it)."""

    user_id: int
    username: str
    role: Role

    @property
    def can_compose(self) -> bool:
        return self.role in (Role.STAFF, Role.SUPERUSER)

    @property
    def is_superuser(self) -> bool:
        return self.role is Role.SUPERUSER


class SignInRefused(Exception):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""


def role_of(session: Session, user: User) -> Role | None:
    """What the account may do here, or None: it may not sign in at all.

    `auth_user` also holds the product's customers, so being active is not enough: staff
    (`is_staff`, as for the Django admin) compose, staff superusers also delete, and members of
    the VIEWER_GROUP group read. Everyone else is a customer and is kept out."""
    if not user.is_active:
        return None
    if user.is_staff:
        return Role.SUPERUSER if user.is_superuser else Role.STAFF
    return Role.VIEWER if in_group(session, user.id, get_settings().viewer_group) else None


def _keys(username: str, client: str) -> tuple[str, str]:
    return f"nd:signin:user:{username.strip().lower()}", f"nd:signin:client:{client}"


def _failures(username: str, client: str) -> tuple[int, int]:
    user_key, client_key = _keys(username, client)
    counts = redis().mget(user_key, client_key)
    return int(counts[0] or 0), int(counts[1] or 0)


def _count_failure(username: str, client: str) -> None:
    pipe = redis().pipeline()
    for key in _keys(username, client):
        # The window starts at the first failure (SET NX) and INCR keeps it; EXPIRE NX would need Redis 7.
        pipe.set(key, 0, ex=WINDOW_SECONDS, nx=True)
        pipe.incr(key)
    pipe.execute()


def sign_in(username: str, password: str, *, client: str) -> SignedIn:
    """Check the credentials (throttled); raises SignInRefused with a sentence to show."""
    try:
        by_user, by_client = _failures(username, client)
    except RedisError as error:
        log.warning("sign-in throttle unavailable (%s); checking the password without it", error)
        by_user = by_client = 0
    if by_user >= MAX_FAILURES_PER_USER or by_client >= MAX_FAILURES_PER_CLIENT:
        raise SignInRefused("Too many failed sign-ins. Wait 15 minutes, then try again.")
    with new_session() as session:
        user = authenticate(session, username=username, password=password)
        role = role_of(session, user) if user else None
        # A customer's right password is refused like a wrong one, after the same hash check.
        signed = SignedIn(user.id, user.username, role) if user and role else None
    if signed is None:
        with contextlib.suppress(RedisError):  # no throttle without Redis, as above
            _count_failure(username, client)
        raise SignInRefused("Wrong username or password, or the account is inactive.")
    return signed


def sign_in_verified(email: str) -> SignedIn:
    """Sign in someone whose address an OIDC provider has verified (`st.login`): the active
    `auth_user` with that email, matched case-insensitively. Raises SignInRefused with a sentence."""
    address = email.strip()
    with new_session() as session:
        users = session.scalars(
            select(User).where(func.lower(User.email) == address.lower(), User.is_active).limit(2)
        ).all()
        if len(users) != 1:
            raise SignInRefused(
                f"No single active account has the address {address or '(none)'}. Ask an administrator to set it "
                "on your account in the storytelling app (or `narration-desk create-user --email`)."
            )
        role = role_of(session, users[0])
        if role is None:
            raise SignInRefused(
                f"The account with the address {address} may not use Narration Desk. Ask an administrator."
            )
        return SignedIn(users[0].id, users[0].username, role)
