"""Signing staff in: Django's users and password hashes, roles, and throttling.

Every password attempt is booked by `workers.throttle` before the password is checked (why it is
built that way is in that module). Every refusal, whatever its reason (unknown user, wrong password,
a customer's right password, throttled), costs one full password hash check, so how long an answer
takes says nothing about why it was refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.engine import new_session
from db.models import User
from db.passwords import check_password
from db.settings import get_settings
from db.users import DUMMY_HASH, authenticate, in_group
from workers import throttle

WRONG = "Wrong username or password, or the account is inactive."


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


def _wait(seconds: float) -> str:
    if seconds <= 60:
        whole = math.ceil(seconds)
        return f"{whole} second{'s' * (whole != 1)}"
    whole = math.ceil(seconds / 60)
    return f"{whole} minute{'s' * (whole != 1)}"


def sign_in(username: str, password: str, *, client: str) -> SignedIn:
    """Check the credentials (throttled, see workers/throttle.py); raises SignInRefused with a
    sentence to show. `client` is `throttle.client_address(...)`."""
    wait = throttle.book_attempt(username, client)
    if wait:
        # Refusing at once would tell a guesser it was throttled and cost it nothing: spend a check.
        check_password(password, DUMMY_HASH)
        raise SignInRefused(f"Too many failed sign-ins. Wait {_wait(wait)}, then try again.")
    with new_session() as session:
        user = authenticate(session, username=username, password=password)
        role = role_of(session, user) if user else None
        # A customer's right password is refused like a wrong one, after the same hash check.
        signed = SignedIn(user.id, user.username, role) if user and role else None
    if signed is None:
        raise SignInRefused(WRONG)
    throttle.forgive(username, client)
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
