"""Sign-ins kept across reloads: the session store (real Redis and PostgreSQL) and the cookie route."""

from __future__ import annotations

import pytest
from redis import Redis
from starlette.applications import Starlette
from starlette.testclient import TestClient
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from dashboard.session_route import ROUTES
from db.engine import new_session
from db.models import User
from db.settings import get_settings
from db.users import add_to_group
from tests.apptest import APP, shown
from tests.factories import demo_data, staff_user
from workers.redis_connection import reset_redis
from workers.service import sessions
from workers.service.roles import Role


def _started(username: str = "editor", role: Role = Role.STAFF) -> sessions.Started:
    started = sessions.start(staff_user(username, role=role))
    assert started is not None
    return started


NEW_PASSWORD = "pbkdf2_sha256$1000000$sZoltJFiE5aJIcaEWA6Gs0$YNYHhfQYP7LNFEEVGg/soHKZx787+WfID0kpA68s6r0="
"""`make_password("a brand new secret")` as Django writes it, made once: at 1,000,000 iterations, made in
the parametrize lists it cost every test process 0.65 s at collection."""


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
        ({"password": NEW_PASSWORD}, None),  # as Django ends its own sessions
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


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({}, Role.STAFF),
        ({"is_superuser": True}, Role.SUPERUSER),  # the tab carries on with the new role
        ({"is_staff": False}, None),
        ({"is_active": False}, None),
        ({"password": NEW_PASSWORD}, None),
    ],
)
@pytest.mark.parametrize("stored", [True, False], ids=["stored session", "single sign-on or no Redis"])
def test_an_open_tab_finds_its_account_as_it_is_now(
    db: str, redis: Redis, change: dict[str, object], now: Role | None, stored: bool
) -> None:
    user = staff_user("editor")
    started = sessions.start(user)
    token = started.token if started and stored else None
    mark = sessions.password_mark(user.user_id)  # what the tab keeps from its first check
    _change("editor", **change)
    checked = sessions.recheck(user, token=token, mark=mark)
    assert (checked.role if checked else None) == now
    if stored and now is None:
        assert not redis.keys("nd:session:*")  # ended for the other tabs too


def test_a_sign_out_in_another_tab_ends_this_one(db: str, redis: Redis) -> None:
    user = staff_user("editor")
    started = sessions.start(user)
    assert started is not None
    mark = sessions.password_mark(user.user_id)
    assert sessions.recheck(user, token=started.token, mark=mark) == user
    sessions.end(started.token)  # the other tab's sign-out
    assert sessions.recheck(user, token=started.token, mark=mark) is None


def test_while_redis_is_away_an_open_tab_is_checked_by_its_account(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = staff_user("editor")
    started = sessions.start(user)
    assert started is not None
    mark = sessions.password_mark(user.user_id)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens there
    get_settings.cache_clear()
    reset_redis()
    assert sessions.recheck(user, token=started.token, mark=mark) == user  # an outage signs nobody out
    _change("editor", is_active=False)
    assert sessions.recheck(user, token=started.token, mark=mark) is None  # but the account still counts


def _cookie_settings(monkeypatch: pytest.MonkeyPatch, secure: str | None) -> None:
    if secure is None:
        monkeypatch.delenv("COOKIE_SECURE", raising=False)
    else:
        monkeypatch.setenv("COOKIE_SECURE", secure)
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("base_url", "setting", "secure"),
    [
        ("http://desk.example", None, False),
        ("https://desk.example", None, True),
        ("http://desk.example", "true", True),  # behind a proxy that ends TLS, the page looks like http
        ("https://desk.example", "false", False),
    ],
)
def test_a_secure_cookie_has_the_host_prefix(
    db: str, redis: Redis, monkeypatch: pytest.MonkeyPatch, base_url: str, setting: str | None, secure: bool
) -> None:
    _cookie_settings(monkeypatch, setting)
    started = _started()
    client = TestClient(Starlette(routes=ROUTES), base_url=base_url)
    cookie = client.get(sessions.SESSION_PATH, params={"claim": started.claim}).headers["set-cookie"]
    name = "__Host-nd_session" if secure else "nd_session"
    assert cookie.startswith(f"{name}={started.token};")
    assert ("Secure" in cookie) is secure and "Path=/" in cookie and "Domain" not in cookie


def _expired(cookie: str) -> bool:
    return cookie.startswith(f"{sessions.COOKIE}=") and "Max-Age=0" in cookie


def test_sign_out_expires_the_cookie_once_its_session_has_ended(db: str, redis: Redis) -> None:
    started = _started()
    client = TestClient(Starlette(routes=ROUTES))
    assert client.get(sessions.SESSION_PATH, params={"claim": started.claim}).status_code == 204
    assert client.cookies.get(sessions.COOKIE) == started.token

    # A late frame from an earlier sign-out leaves a session that still lives alone (the browser
    # signed in again since).
    early = client.get(sessions.END_PATH)
    assert early.status_code == 204 and "set-cookie" not in early.headers

    lured = client.get(sessions.END_PATH, headers={"Sec-Fetch-Site": "cross-site"})
    assert lured.status_code == 403 and "set-cookie" not in lured.headers

    sessions.end(started.token)  # what the page does first on sign-out
    claim = sessions.clearing()
    assert claim is not None and sessions.clearing_pending(claim)
    answer = client.get(sessions.END_PATH, params={"claim": claim})
    assert answer.status_code == 204 and _expired(answer.headers.get("set-cookie", ""))
    assert sessions.COOKIE not in client.cookies  # the browser keeps nothing that signs it in
    assert not sessions.clearing_pending(claim)  # the page stops loading the frame


def test_the_next_click_in_an_open_tab_shows_the_account_as_it_is_now(db: str, redis: Redis) -> None:
    demo_data()
    user = staff_user("editor")
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state[KEY] = user
    app.run()
    assert app.title[0].value == "Compose a narration"

    with new_session() as session, session.begin():
        add_to_group(session, session.get_one(User, user.user_id), get_settings().viewer_group)
    _change("editor", is_staff=False)
    app.run()  # what any click does
    assert "Your account (editor, viewer) may not use this page" in shown(app.error[0].value)
    assert not app.button  # nothing left to submit with
    app.switch_page("pages/library.py").run()
    assert app.title[0].value == "Library" and not app.exception

    _change("editor", is_active=False)
    app.run()
    assert KEY not in app.session_state and app.warning[0].value == "Sign in first."
    assert [t.value for t in app.title] == ["Narration Desk"]  # the sign-in form, not the library
    assert [b.label for b in app.button] == ["Sign in"]
