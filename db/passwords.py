"""Django-compatible password hashes, without importing Django.

Format: `pbkdf2_sha256$<iterations>$<salt>$<base64 of the 32-byte PBKDF2-HMAC-SHA256>`, exactly what
Django's default hasher writes, so users created here sign in to the Django app and back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 1_000_000
"""Django 5.2's default; never lower (the contract: no weaker format is ever written)."""
_SALT_CHARS = string.ascii_letters + string.digits


def _digest(password: str, salt: str, iterations: int) -> str:
    raw = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations, dklen=32)
    return base64.b64encode(raw).decode("ascii")


def make_password(password: str, *, iterations: int | None = None) -> str:
    """A new hash at `iterations` (default ITERATIONS), never fewer than ITERATIONS.

    Both are read at call time, so the test suite can lower ITERATIONS for its throwaway users
    (tests/conftest.py, by monkeypatching this module); no setting reaches it, so a deployment
    cannot write a weak hash by accident."""
    rounds = ITERATIONS if iterations is None else iterations
    if rounds < ITERATIONS:
        raise ValueError(f"refusing to write a hash weaker than Django's default ({ITERATIONS:,} iterations)")
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(22))
    return f"{ALGORITHM}${rounds}${salt}${_digest(password, salt, rounds)}"


def check_password(password: str, encoded: str) -> bool:
    """True when `password` matches a Django `pbkdf2_sha256` hash; False for any other format
    (unusable passwords such as `!…`, other hashers) rather than an error."""
    try:
        algorithm, iterations, salt, expected = encoded.split("$", 3)
        rounds = int(iterations)
    except ValueError:
        return False
    if algorithm != ALGORITHM or rounds < 1:
        return False
    return hmac.compare_digest(_digest(password, salt, rounds), expected)
