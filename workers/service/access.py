"""Who may act, decided in the service layer from `auth_user` as it is now, not from the page.

A page holds the `SignedIn` it was given and checks it again only on its next run or every
`sessions.RECHECK_SECONDS`, so an action can arrive from a tab whose account was deactivated or
demoted a moment ago. Every action that changes something asks `refusal` first.
"""

from __future__ import annotations

from db.engine import new_session
from db.models import User
from workers.service.roles import Role, role_of


def refusal(user_id: int, doing: str, *, superuser: bool = False) -> str | None:
    """None when the account may `doing` ("retry narrations", say) now: staff may, or only
    superusers when `superuser`. Otherwise the sentence to show instead; nothing was done."""
    with new_session() as session:
        account = session.get(User, user_id)
        role = role_of(session, account) if account is not None else None
    if role is None:
        return (
            "Your account may no longer use Narration Desk (it is inactive or no longer staff), so nothing was "
            "done. Ask an administrator if that is wrong."
        )
    if superuser and role is not Role.SUPERUSER:
        return f"Only superusers can {doing}."
    if role is Role.VIEWER:
        return f"Only staff can {doing}."
    return None
