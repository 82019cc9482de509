"""Signing staff in: Django's users and password hashes, throttling, and single sign-on.

Who may sign in at all, and as what, is `workers.service.roles.role_of`. Every password attempt is
booked by `workers.service.throttle` before the password is checked (why it is built that way is
in that module). Every refusal, whatever its reason (unknown user, wrong password,
a customer's right password, throttled), costs one full password hash check, so how long an answer
takes says nothing about why it was refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from sqlalchemy import func, select

from db.engine import new_session
from db.models import User
from db.passwords import check_password
from db.settings import get_settings
from db.users import DUMMY_HASH, authenticate
from workers.service import throttle
from workers.service.roles import SignedIn, role_of

WRONG = "Wrong username or password, or the account is inactive."


class SignInRefused(Exception):
    """Sign-in failed; the message is safe to show (it never says which part was wrong)."""


def _wait(seconds: float) -> str:
    if seconds <= 60:
        whole = math.ceil(seconds)
        return f"{whole} second{'s' * (whole != 1)}"
    whole = math.ceil(seconds / 60)
    return f"{whole} minute{'s' * (whole != 1)}"


def sign_in(username: str, password: str, *, client: str) -> SignedIn:
    """Check the credentials (throttled, see workers/service/throttle.py); raises SignInRefused with a
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


def _verified(claims: Mapping[str, object]) -> bool:
    """`email_verified` as OIDC sends it: true (some providers send the string "true"); missing is not."""
    flag = claims.get("email_verified")
    return flag is True or (isinstance(flag, str) and flag.lower() == "true")


def _refusal(claims: Mapping[str, object], address: str) -> str | None:
    """Why these single sign-on claims may not be matched to an account, or None."""
    settings = get_settings()
    if not _verified(claims):
        return (
            f"Your sign-on provider has not confirmed that {address or 'your address'} is yours, so it is not "
            "matched to an account. Verify the address with the provider, or sign in with username and password."
        )
    if settings.sso_issuer and claims.get("iss") != settings.sso_issuer:
        return (
            "This sign-on provider is not the one Narration Desk accepts (SSO_ISSUER). Sign in through "
            "the configured provider, or with username and password."
        )
    allowed = {domain.strip().lower().lstrip("@") for domain in settings.sso_allowed_domains}
    domain = address.rpartition("@")[2].lower()
    if allowed and ("@" not in address or domain not in allowed):
        return (
            f"Single sign-on accepts only addresses at {', '.join(sorted(allowed))}, not {address or '(none)'}. "
            "Sign in with username and password, or ask an administrator."
        )
    return None


def sign_in_verified(claims: Mapping[str, object]) -> SignedIn:
    """Sign in someone an OIDC provider vouches for (`st.user` after `st.login`): only a verified
    address (`email_verified` true), from SSO_ISSUER and within SSO_ALLOWED_DOMAINS when set, matched
    case-insensitively to exactly one active `auth_user`. Raises SignInRefused with a sentence."""
    address = str(claims.get("email") or "").strip()
    if refusal := _refusal(claims, address):
        raise SignInRefused(refusal)
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
