"""Password hashes Django writes verify here, and hashes written here verify in Django itself."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import select

from db import passwords
from db.engine import new_session
from db.models import User
from db.passwords import check_password, make_password
from db.users import DUMMY_HASH
from tests.live import Commands

# What Django 5.2 writes for a known salt starts like this (the digest follows).
DJANGO_HASH = "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$"


def _django_hash(commands: Commands, password: str, salt: str) -> str:
    code = (
        "from django.conf import settings; settings.configure();"
        "from django.contrib.auth.hashers import make_password;"
        f"print(make_password({password!r}, salt={salt!r}))"
    )
    done = commands.run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _django_check(commands: Commands, password: str, encoded: str) -> bool:
    code = (
        "from django.conf import settings; settings.configure();"
        "from django.contrib.auth.hashers import check_password;"
        f"print(check_password({password!r}, {encoded!r}))"
    )
    done = commands.run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_a_hash_django_wrote_verifies_here(commands: Commands) -> None:
    encoded = _django_hash(commands, "correct horse", "abcdefghijklmnopqrstuv")
    assert encoded.startswith(DJANGO_HASH)
    assert check_password("correct horse", encoded)
    assert not check_password("correct horse!", encoded)


@pytest.mark.real_password_hashes
def test_a_hash_written_here_verifies_in_django(commands: Commands) -> None:
    encoded = make_password("battery staple")
    assert encoded.split("$")[:2] == ["pbkdf2_sha256", "1000000"]
    assert _django_check(commands, "battery staple", encoded)
    assert not _django_check(commands, "battery", encoded)


@pytest.mark.real_password_hashes
def test_no_hash_weaker_than_djangos_default_is_ever_written() -> None:
    assert passwords.ITERATIONS == 1_000_000
    with pytest.raises(ValueError, match="weaker than Django's default"):
        make_password("battery staple", iterations=999_999)


@pytest.mark.real_password_hashes
def test_the_no_such_user_check_costs_as_much_as_a_real_one() -> None:
    """The dummy hash is a literal (no cost at import): it must keep the iterations real hashes have."""
    assert DUMMY_HASH.split("$")[:2] == ["pbkdf2_sha256", str(passwords.ITERATIONS)]
    assert check_password("not a password", DUMMY_HASH)


def test_unusable_and_foreign_hashes_never_verify() -> None:
    assert not check_password("", "!unusable")
    assert not check_password("x", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA")
    assert not check_password("x", "pbkdf2_sha256$notanumber$salt$hash")


def test_create_user_writes_an_account_that_signs_in(db: str, commands: Commands) -> None:
    done = commands.run(
        [sys.executable, "-m", "workers.cli", "create-user", "ada", "--superuser"], input="a long enough secret\n"
    )
    assert done.returncode == 0, done.stderr
    assert "Created superuser user 'ada'" in done.stdout
    with new_session() as session:
        user = session.scalars(select(User).where(User.username == "ada")).one()
        assert user.is_active and user.is_staff and user.is_superuser
        assert check_password("a long enough secret", user.password)
        assert _django_check(commands, "a long enough secret", user.password)

    again = commands.run([sys.executable, "-m", "workers.cli", "create-user", "ada"], input="another long secret\n")
    assert again.returncode == 2 and "already a user called 'ada'" in again.stderr
