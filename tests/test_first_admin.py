"""The initial admin password file is created exclusively, only its owner can read it, and a file
or link already at its path is never written through."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from db.engine import new_session
from db.models import User
from db.passwords import check_password
from workers.operations.run import AdminPasswordFileExists, create_first_admin


def _admins() -> list[User]:
    with new_session() as session:
        return list(session.scalars(select(User).where(User.username == "admin")))


def test_a_fresh_file_is_readable_by_its_owner_only_and_holds_the_password(db: str, tmp_path: Path) -> None:
    with new_session() as session:
        path = create_first_admin(session, tmp_path / "var")
    assert path.stat().st_mode & 0o777 == 0o600
    [admin] = _admins()
    assert admin.is_superuser and check_password(path.read_text().strip(), admin.password)


def test_a_planted_symlink_is_not_written_through(db: str, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("someone else's file\n")
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "initial-admin-password").symlink_to(target)
    with new_session() as session, pytest.raises(AdminPasswordFileExists, match=r"Remove it and restart.*create-user"):
        create_first_admin(session, data_dir)
    assert target.read_text() == "someone else's file\n"
    assert not _admins()  # no account whose password nobody was told

    (data_dir / "initial-admin-password").unlink()
    (data_dir / "initial-admin-password").symlink_to(tmp_path / "not-there-yet")  # a dangling link too
    with new_session() as session, pytest.raises(AdminPasswordFileExists):
        create_first_admin(session, data_dir)
    assert not (tmp_path / "not-there-yet").exists()


def test_an_existing_file_is_left_as_it_is(db: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "initial-admin-password").write_text("an old password\n")
    with new_session() as session, pytest.raises(AdminPasswordFileExists):
        create_first_admin(session, data_dir)
    assert (data_dir / "initial-admin-password").read_text() == "an old password\n"
