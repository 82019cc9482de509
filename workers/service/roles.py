"""Who a signed-in person is and what their account may do: staff, superuser or viewer.

Read from `auth_user` as Django keeps it; the pages hold a `SignedIn`, and every action asks
`workers.service.access` again before it changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from db.models import User
from db.settings import get_settings
from db.users import in_group


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
