"""Staff accounts, which are the Django app's `auth_user` rows."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Group, User, UserGroup
from db.narrations import now
from db.passwords import check_password, make_password

MIN_PASSWORD_LENGTH = 10
DUMMY_HASH = "pbkdf2_sha256$1000000$qWBhZxG2NMmmYo0QwCgI8U$SZkWkodN/tshAdgyN48PuFgGEW5Nj+SXjWChscnoHQE="
"""`make_password("not a password")`, written out: checked against when there is no user, so that a
refusal takes as long as a real check. A literal rather than computed at import, which cost every
CLI start and every test process 0.4 s; tests/test_passwords.py checks it still has ITERATIONS."""


class UserRefused(ValueError):
    """The account was not created; the message says why."""


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    email: str = "",
    staff: bool = True,
    superuser: bool = False,
    groups: tuple[str, ...] = (),
) -> User:
    """Create an active user with a Django-format password hash (what `manage.py createsuperuser` writes),
    in the named groups (created if missing, as the Django admin would)."""
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
    session.flush()
    for name in groups:
        add_to_group(session, user, name)
    session.commit()
    return user


def add_to_group(session: Session, user: User, name: str) -> None:
    """Put `user` in the Django group `name` (created if missing); no commit."""
    group = session.scalars(select(Group).where(Group.name == name)).first()
    if group is None:
        group = Group(name=name)
        session.add(group)
        session.flush()
    session.add(UserGroup(user_id=user.id, group_id=group.id))
    session.flush()


def in_group(session: Session, user_id: int, name: str) -> bool:
    """Whether the user is a member of the Django group `name`."""
    query = (
        select(func.count())
        .select_from(UserGroup)
        .join(Group, Group.id == UserGroup.group_id)
        .where(UserGroup.user_id == user_id, Group.name == name)
    )
    return bool(session.scalar(query))


def authenticate(session: Session, *, username: str, password: str) -> User | None:
    """The active user with this username and password, else None (same answer for every reason,
    so the sign-in form cannot be used to find out which usernames exist)."""
    user = session.scalars(select(User).where(User.username == username.strip())).first()
    if user is None:
        check_password(password, DUMMY_HASH)  # spend the same time as a real check
        return None
    matches = check_password(password, user.password)  # checked first: inactive takes as long as wrong
    return user if user.is_active and matches else None


def has_staff(session: Session) -> bool:
    """Whether anyone can sign in to compose (the stand-alone setup starts without users)."""
    query = select(func.count()).select_from(User).where(User.is_active, User.is_staff)
    return bool(session.scalar(query))
