"""Only staff, and members of the viewer group, get in: `auth_user` also holds the product's customers.

Accounts and group memberships are written the way the Django app writes them (raw SQL with a
Django-format hash), not through our own helpers.
"""

from __future__ import annotations

import pytest
from redis import Redis
from sqlalchemy import text

from db.engine import get_engine, new_session
from db.passwords import make_password
from db.settings import get_settings
from db.upgrade import upgrade
from tests.factories import django_rows, load_django_schema
from workers.service import sessions
from workers.service.roles import Role, SignedIn
from workers.service.sign_in import SignInRefused, sign_in, sign_in_verified

SECRET = "a customer's own password"
WRONG = "Wrong username or password, or the account is inactive."


def _django_account(
    username: str, *, staff: bool = False, superuser: bool = False, groups: tuple[str, ...] = ()
) -> int:
    """An account as Django's `createsuperuser` / sign-up / admin would leave it."""
    with get_engine().begin() as connection:
        user_id = connection.execute(
            text(
                "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, "
                "is_active, date_joined) VALUES (:password, :superuser, :username, '', '', :email, :staff, true, "
                "now()) RETURNING id"
            ),
            {
                "password": make_password(SECRET),
                "superuser": superuser,
                "username": username,
                "email": f"{username}@example.org",
                "staff": staff,
            },
        ).scalar_one()
        for group in groups:
            connection.execute(
                text(
                    "INSERT INTO auth_user_groups (user_id, group_id) "
                    "SELECT :user_id, id FROM auth_group WHERE name = :group"
                ),
                {"user_id": user_id, "group": group},
            )
    return int(user_id)


def test_a_customer_with_the_right_password_is_refused_like_a_wrong_password(db: str, redis: Redis) -> None:
    _django_account("customer")
    with pytest.raises(SignInRefused) as customer:
        sign_in("customer", SECRET, client="10.0.0.1")
    with pytest.raises(SignInRefused) as wrong:
        sign_in("customer", "not it at all", client="10.0.0.2")
    assert str(customer.value) == str(wrong.value) == WRONG


@pytest.mark.parametrize(
    ("account", "role"),
    [
        ({"staff": True}, Role.STAFF),
        ({"staff": True, "superuser": True}, Role.SUPERUSER),
        ({"groups": ("narration-viewers",)}, Role.VIEWER),
    ],
)
def test_staff_superusers_and_the_viewer_group_get_in(
    db: str, redis: Redis, account: dict[str, object], role: Role
) -> None:
    _django_account("someone", **account)  # type: ignore[arg-type]
    assert sign_in("someone", SECRET, client="10.0.0.1").role is role


def test_a_superuser_who_is_not_staff_is_not_let_in(db: str, redis: Redis) -> None:
    """Django's admin wants `is_staff` even of superusers; so do we."""
    _django_account("odd", superuser=True)
    with pytest.raises(SignInRefused, match="Wrong username or password"):
        sign_in("odd", SECRET, client="10.0.0.1")


def test_another_group_does_not_make_a_viewer(db: str, redis: Redis) -> None:
    with get_engine().begin() as connection:
        connection.execute(text("INSERT INTO auth_group (name) VALUES ('beta-testers')"))
    _django_account("tester", groups=("beta-testers",))
    with pytest.raises(SignInRefused):
        sign_in("tester", SECRET, client="10.0.0.1")


def test_the_viewer_group_is_the_one_the_setting_names(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIEWER_GROUP", "listeners")
    get_settings.cache_clear()
    upgrade()  # creates the group the setting names, beside the default one
    _django_account("listener", groups=("listeners",))
    _django_account("old-viewer", groups=("narration-viewers",))
    assert sign_in("listener", SECRET, client="10.0.0.1").role is Role.VIEWER
    with pytest.raises(SignInRefused):
        sign_in("old-viewer", SECRET, client="10.0.0.1")


def test_single_sign_on_refuses_a_customer_address(db: str) -> None:
    _django_account("customer")
    with pytest.raises(SignInRefused, match="may not use Narration Desk"):
        sign_in_verified({"email": "customer@example.org", "email_verified": True})


def test_a_session_resumed_after_the_viewer_left_the_group_ends(db: str, redis: Redis) -> None:
    user_id = _django_account("reader", groups=("narration-viewers",))
    started = sessions.start(SignedIn(user_id, "reader", Role.VIEWER))
    assert started is not None and sessions.resume(started.token) is not None
    with get_engine().begin() as connection:
        connection.execute(text("DELETE FROM auth_user_groups WHERE user_id = :id"), {"id": user_id})
    assert sessions.resume(started.token) is None


@pytest.mark.parametrize("django_made", [False, True])
def test_db_upgrade_creates_the_viewer_group_once(empty_db: str, django_made: bool) -> None:
    if django_made:
        with get_engine().begin() as connection:
            load_django_schema(connection)
            django_rows(connection)
    upgrade()
    upgrade()  # safe to run twice
    with new_session() as session:
        names = session.execute(text("SELECT name FROM auth_group")).scalars().all()
    assert names == ["narration-viewers"]
