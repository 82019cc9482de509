"""The role matrix, page by page (AppTest): what a viewer, staff and a superuser see and may do.

| | viewer | staff | superuser |
|---|---|---|---|
| library, narration pages, story boards, projects (read), play, download, read reviews | yes | yes | yes |
| compose, bulk, cancel, retry, redo a passage, duplicate, review (approve) | no | yes | yes |
| delete | no | no | yes |
"""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis
from streamlit.testing.v1 import AppTest

from dashboard.session import KEY
from db.engine import new_session
from db.lifecycle import cancel
from tests.apptest import APP, button, labels, open_narration, shown
from tests.factories import LOCAL, demo_data, staff_user
from workers.engine.jobs import synthesize
from workers.service.roles import Role
from workers.service.submit import Request, submit


@pytest.mark.parametrize("role", list(Role))
def test_each_role_sees_what_it_may_do(db: str, redis: Redis, role: Role) -> None:
    demo_data()
    done = submit(Request(kind="scene", target_id=1, prompt="A lighthouse at dusk.", **LOCAL)).row_id
    synthesize("scene", done)
    stopped = submit(Request(kind="scene", target_id=2, prompt="A cat by the lamp.", **LOCAL)).row_id
    with new_session() as session:
        cancel(session, "scene", stopped)
    staff = role in (Role.STAFF, Role.SUPERUSER)

    user = staff_user(f"user-{role}", role=role)
    home = AppTest.from_file(APP, default_timeout=30)
    home.session_state[KEY] = user
    home.run()
    assert home.title[0].value == ("Compose a narration" if staff else "Library")

    finished = open_narration(user, "scene", done)
    assert finished.get("audio") and finished.get("link_button")  # everyone may listen and download
    assert [t.label for t in finished.tabs] == ["Details", "Passages", "Review"] + (
        ["Duplicate with changes"] if staff else []
    )
    assert ("Narrate passage 1 again" in labels(finished)) is staff
    assert ("Delete" in labels(finished)) is (role is Role.SUPERUSER)

    failed = open_narration(user, "scene", stopped)
    assert ("Retry" in labels(failed)) is staff
    if staff:
        button(failed, "Retry").click().run()
        assert shown(failed.info[0].value).startswith(f"Queued scene narration #{stopped} again")
        assert "Cancel" in labels(failed)  # now queued: it can be cancelled


def test_compose_opened_by_url_refuses_a_viewer(db: str, redis: Redis) -> None:
    demo_data()
    compose = AppTest.from_file(str(Path(APP).parent / "pages" / "compose.py"), default_timeout=30)
    compose.session_state[KEY] = staff_user("reader", role=Role.VIEWER)
    compose.run()
    assert "may not use this page" in compose.error[0].value
    assert not compose.button
