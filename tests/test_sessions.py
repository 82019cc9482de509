"""Sign-ins kept across reloads: the session store (real Redis and PostgreSQL) and the cookie route."""

from __future__ import annotations

import pytest
from redis import Redis
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard.session_route import ROUTES
from db.engine import new_session
from db.models import User
from db.passwords import make_password
from db.users import add_to_group
from tests.factories import staff_user
from workers import sessions
from workers.signin import Role


def _started(username: str = "editor", role: Role = Role.STAFF) -> sessions.Started:
    started = sessions.start(staff_user(username, role=role))
    assert started is not None
    return started


def _change(username: str, **values: object) -> None:
    """What an administrator does in the Django app."""
    with new_session() as session, session.begin():
        user = session.query(User).filter_by(username=username).one()
        for name, value in values.items():
            setattr(user, name, value)


def test_a_claim_gives_the_token_once_and_the_token_resumes_the_user(db: str, redis: Redis) -> None:
    started = _started()
    assert sessions.pending(started.claim)
    assert sessions.redeem(started.claim) == started.token
    assert not sessions.pending(started.claim)
    assert sessions.redeem(started.claim) is None  # a claim seen in a log or history is worthless
    resumed = sessions.resume(started.token)
    assert resumed is not None and (resumed.username, resumed.role) == ("editor", Role.STAFF)


def test_redis_keeps_neither_the_token_nor_a_password_hash(db: str, redis: Redis) -> None:
    started = _started()
    keys = redis.keys("nd:session:*")
    stored = " ".join(str(key) + str(redis.get(key)) for key in keys)
    assert keys and started.token not in stored and "pbkdf2" not in stored


def test_the_session_lasts_session_hours(db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    from db.settings import get_settings

    monkeypatch.setenv("SESSION_HOURS", "0.5")
    get_settings.cache_clear()
    _started()
    (key,) = redis.keys("nd:session:*")
    assert 1790 <= redis.ttl(key) <= 1800


@pytest.mark.parametrize(
    ("change", "resumes_as"),
    [
        ({"is_staff": False}, None),  # staff taken away, not a viewer: a customer now, out at the next load
        ({"is_superuser": True}, Role.SUPERUSER),
        ({"is_active": False}, None),
        ({"password": make_password("a brand new secret")}, None),  # as Django ends its own sessions
    ],
)
def test_the_account_is_read_again_on_every_resume(
    db: str, redis: Redis, change: dict[str, object], resumes_as: Role | None
) -> None:
    started = _started()
    _change("editor", **change)
    resumed = sessions.resume(started.token)
    assert (resumed.role if resumed else None) == resumes_as
    if resumes_as is None:
        assert not redis.keys("nd:session:*")  # and the session is gone for good


def test_a_former_staff_member_in_the_viewer_group_resumes_read_only(db: str, redis: Redis) -> None:
    started = _started()
    with new_session() as session, session.begin():
        add_to_group(session, session.query(User).filter_by(username="editor").one(), "narration-viewers")
    _change("editor", is_staff=False)
    resumed = sessions.resume(started.token)
    assert resumed is not None and resumed.role is Role.VIEWER


def test_sign_out_ends_the_session_and_unknown_tokens_resume_nobody(db: str, redis: Redis) -> None:
    started = _started()
    sessions.end(started.token)
    assert sessions.resume(started.token) is None
    assert sessions.resume("made-up") is None
    assert sessions.resume(None) is None


def test_the_route_sets_an_httponly_strict_cookie_once(db: str, redis: Redis) -> None:
    started = _started()
    client = TestClient(Starlette(routes=ROUTES))
    answer = client.get(sessions.SESSION_PATH, params={"claim": started.claim})
    assert answer.status_code == 204
    cookie = answer.headers["set-cookie"]
    assert f"{sessions.COOKIE}={started.token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and f"Max-Age={12 * 3600}" in cookie
    assert "Secure" not in cookie  # plain http here; behind https the cookie is Secure
    again = client.get(sessions.SESSION_PATH, params={"claim": started.claim})
    assert again.status_code == 404 and "Sign in again" in again.text and "set-cookie" not in again.headers
    assert client.get(sessions.SESSION_PATH).status_code == 404


def test_over_https_the_cookie_is_secure(db: str, redis: Redis) -> None:
    started = _started()
    client = TestClient(Starlette(routes=ROUTES), base_url="https://desk.example")
    answer = client.get(sessions.SESSION_PATH, params={"claim": started.claim})
    assert "Secure" in answer.headers["set-cookie"]


def test_a_claim_sent_from_another_site_signs_nobody_in(db: str, redis: Redis) -> None:
    started = _started()
    client = TestClient(Starlette(routes=ROUTES))
    lured = client.get(sessions.SESSION_PATH, params={"claim": started.claim}, headers={"Sec-Fetch-Site": "cross-site"})
    assert lured.status_code == 403 and "set-cookie" not in lured.headers
    assert sessions.pending(started.claim)  # the page's own frame can still use it
