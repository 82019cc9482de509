"""Staff accounts, which are the Django app's `auth_user` rows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import User
from db.narrations import now
from db.passwords import make_password

MIN_PASSWORD_LENGTH = 10


class UserRefused(ValueError):
    """The account was not created; the message says why."""


def create_user(
    session: Session, *, username: str, password: str, email: str = "", staff: bool = True, superuser: bool = False
) -> User:
    """Create an active user with a Django-format password hash (what `manage.py createsuperuser` writes)."""
    username = username.strip()
    if not username or len(username) > 150:
        raise UserRefused("A username is 1 to 150 characters.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserRefused(f"Use a password of at least {MIN_PASSWORD_LENGTH} characters.")
    if session.scalar(select(func.count()).select_from(User).where(User.username == username)):
        raise UserRefused(f"There is already a user called {username!r}.")
    user = User(
        username=username,
        password=make_password(password),
        email=email,
        first_name="",
        last_name="",
        is_staff=staff or superuser,
        is_superuser=superuser,
        is_active=True,
        date_joined=now(),
    )
    session.add(user)
    session.commit()
    return user
