"""Single sign-on maps only an address the provider verified, from the allowed issuer and domains."""

from __future__ import annotations

import pytest

from db.engine import new_session
from db.models import User
from db.settings import get_settings
from tests.factories import staff_user
from workers.service.roles import Role
from workers.service.sign_in import SignInRefused, sign_in_verified

ISSUER = "https://accounts.example.com"


@pytest.fixture
def editor(db: str) -> None:
    staff_user("editor")
    with new_session() as session:
        session.query(User).filter_by(username="editor").update({"email": "editor@example.com"})
        session.commit()


def _claims(**claims: object) -> dict[str, object]:
    """What `st.user` holds after `st.login`: by default, a verified address from ISSUER."""
    return {"is_logged_in": True, "email": "editor@example.com", "email_verified": True, "iss": ISSUER} | claims


def _limit(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_a_verified_address_signs_in(editor: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert sign_in_verified(_claims()).username == "editor"
    _limit(monkeypatch, SSO_ISSUER=ISSUER, SSO_ALLOWED_DOMAINS="studio.example.org, Example.COM")
    signed = sign_in_verified(_claims(email="Editor@EXAMPLE.com"))
    assert (signed.username, signed.role) == ("editor", Role.STAFF)


@pytest.mark.parametrize("verified", [None, False, "false", 1, "yes"])
def test_an_address_the_provider_did_not_verify_is_refused(editor: None, verified: object) -> None:
    claims = _claims(email_verified=verified) if verified is not None else _claims()
    if verified is None:
        del claims["email_verified"]  # a missing claim is not a verified address
    with pytest.raises(SignInRefused, match=r"has not confirmed that editor@example\.com is yours.*Verify"):
        sign_in_verified(claims)


def test_a_provider_that_sends_verified_as_text_is_understood(editor: None) -> None:
    assert sign_in_verified(_claims(email_verified="true")).username == "editor"


def test_another_issuer_is_refused(editor: None, monkeypatch: pytest.MonkeyPatch) -> None:
    _limit(monkeypatch, SSO_ISSUER=ISSUER)
    for issuer in ("https://evil.example.net", f"{ISSUER}.evil.org", None):
        claims = _claims(iss=issuer) if issuer else {k: v for k, v in _claims().items() if k != "iss"}
        with pytest.raises(SignInRefused, match=r"not the one Narration Desk accepts \(SSO_ISSUER\)"):
            sign_in_verified(claims)


@pytest.mark.parametrize(
    "address",
    [
        "editor@example.com.evil.org",  # a suffix trick
        "editor@evilexample.com",  # ends with the domain, is not it
        "editor@sub.example.com",  # a subdomain is another domain
        "editor@example.com@evil.org",
        "editor",
    ],
)
def test_an_address_outside_the_allowed_domains_is_refused(
    editor: None, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    _limit(monkeypatch, SSO_ALLOWED_DOMAINS="example.com")
    with pytest.raises(SignInRefused, match=r"accepts only addresses at example\.com, not "):
        sign_in_verified(_claims(email=address))
