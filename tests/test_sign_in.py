"""Sign-in with Django's users, what each role sees, and throttled failures (Streamlit AppTest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import new_session
from db.models import User
from tests.apptest import APP, texts
from tests.factories import demo_data, staff_user
from workers.service.roles import Role
from workers.service.sign_in import SignInRefused, sign_in, sign_in_verified
from workers.service.throttle import PER_USERNAME

SECRET = "a long enough secret"


@pytest.fixture
def app(db: str, redis: Redis) -> Iterator[AppTest]:
    demo_data()
    page = AppTest.from_file(APP, default_timeout=30)
    page.run()
    yield page


def _sign_in(page: AppTest, username: str, password: str) -> AppTest:
    page.text_input[0].set_value(username)
    page.text_input[1].set_value(password)
    return page.button[0].click().run()


def _verified(email: str) -> dict[str, object]:
    """The claims `st.user` holds after a provider verified the address."""
    return {"is_logged_in": True, "email": email, "email_verified": True}


def _pages(page: AppTest) -> list[str]:
    return [title.value for title in page.title]


def test_signed_out_people_only_see_the_sign_in_form(app: AppTest) -> None:
    assert _pages(app) == ["Narration Desk"]
    assert [t.label for t in app.text_input] == ["Username", "Password"]


@pytest.mark.real_password_hashes  # the one form sign-in against a production-cost hash
def test_staff_sign_in_and_land_on_compose(app: AppTest, redis: Redis) -> None:
    staff_user("editor")
    _sign_in(app, "editor", SECRET)
    assert not app.exception
    assert _pages(app) == ["Compose a narration"]
    assert "Signed in as **editor** (staff)" in app.sidebar.caption[0].value
    assert len(redis.keys("nd:session:*")) == 1  # to stay signed in across reloads (tests/test_sessions.py)

    next(b for b in app.sidebar.button if b.label == "Sign out").click().run()
    assert KEY not in app.session_state  # (what the page then shows is checked in the browser test)
    assert not redis.keys("nd:session:*")  # no other tab of that browser comes back signed in


def test_a_wrong_password_says_so_without_saying_which_part(app: AppTest) -> None:
    staff_user("editor")
    _sign_in(app, "editor", "wrong password")
    assert texts(app, "error") == ["Wrong username or password, or the account is inactive."]
    _sign_in(app, "nobody", SECRET)
    assert texts(app, "error") == ["Wrong username or password, or the account is inactive."]


def test_a_viewer_reads_the_library_but_cannot_compose(app: AppTest) -> None:
    staff_user("reader", role=Role.VIEWER)
    _sign_in(app, "reader", SECRET)
    assert _pages(app) == ["Library"]
    assert not any(b.label == "Submit narration" for b in app.button)

    compose = AppTest.from_file(str(Path(APP).parent / "pages" / "compose.py"), default_timeout=30)
    compose.session_state[KEY] = app.session_state[KEY]
    compose.run()  # opened directly, as a deep link would
    assert "may not use this page" in compose.error[0].value
    assert not any(b.label == "Submit narration" for b in compose.button)


def test_inactive_users_cannot_sign_in(app: AppTest) -> None:
    staff_user("gone")
    with new_session() as session:
        session.query(User).filter_by(username="gone").update({"is_active": False})
        session.commit()
    with pytest.raises(SignInRefused):
        sign_in("gone", SECRET, client="10.0.0.1")


def test_failures_are_throttled_per_user_even_with_the_right_password(db: str, redis: Redis) -> None:
    staff_user("editor")
    for _ in range(PER_USERNAME.free):
        with pytest.raises(SignInRefused, match="Wrong username"):
            sign_in("editor", "guess", client="10.0.0.1")
    with pytest.raises(SignInRefused, match=r"Too many failed sign-ins\. Wait \d+ seconds?, then try again\."):
        sign_in("editor", SECRET, client="10.0.0.2")
    assert redis.pttl("nd:signin:user:editor") > 0  # the wait lifts by itself (tests/test_throttle.py: how long)


def test_single_sign_on_matches_one_active_account_by_verified_email(db: str) -> None:
    staff_user("editor")
    with new_session() as session:
        session.query(User).filter_by(username="editor").update({"email": "Editor@Example.org"})
        session.commit()
    signed = sign_in_verified(_verified(" editor@example.org "))
    assert (signed.username, signed.role) == ("editor", Role.STAFF)

    with pytest.raises(SignInRefused, match=r"No single active account has the address stranger@example\.org"):
        sign_in_verified(_verified("stranger@example.org"))
    staff_user("twin")
    with new_session() as session:
        session.query(User).filter_by(username="twin").update({"email": "editor@example.org"})
        session.commit()
    with pytest.raises(SignInRefused):  # two accounts share it: neither is guessed
        sign_in_verified(_verified("editor@example.org"))
