"""The HTTP routes a Streamlit script cannot provide: they set and clear the session cookie.

After a password sign-in the page loads `/narration-desk/session?claim=…` in a tiny iframe, and that
route answers with the session cookie; after a sign-out it loads `/narration-desk/session/end`,
which expires it (`workers/service/sessions.py` says why and how the session is kept). Kept apart from
`server.py` so tests can serve them without starting Streamlit.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from workers.service.sessions import (
    END_PATH,
    SESSION_PATH,
    alive,
    cleared,
    cookie_name,
    cookie_secure,
    lifetime_seconds,
    redeem,
)


def _cross_site(request: Request) -> Response | None:
    """Only the page's own frame may use these routes: a link from elsewhere must neither sign this
    browser in as whoever sent it nor sign it out."""
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        return PlainTextResponse("Open Narration Desk itself and sign in or out there.", status_code=403)
    return None


def keep_session(request: Request) -> Response:
    """Trade a one-time claim for the HttpOnly session cookie (a plain function: Starlette runs it
    in a thread, so the Redis call does not hold up the event loop)."""
    if refused := _cross_site(request):
        return refused
    token = redeem(request.query_params.get("claim", ""))
    if token is None:
        return PlainTextResponse("This sign-in link was used or has expired. Sign in again.", status_code=404)
    secure = cookie_secure(request.url.scheme)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        cookie_name(secure),
        token,
        max_age=lifetime_seconds(),
        path="/",  # with Secure and no Domain, what the __Host- prefix asks for
        httponly=True,  # the page's scripts never see it
        samesite="strict",  # nor is it sent when another site links or posts here
        secure=secure,
    )
    return response


def end_session(request: Request) -> Response:
    """Expire the session cookie once its session has ended. A cookie whose session still lives is
    kept: that browser has signed in again since (in another tab, perhaps), and a late frame from
    the old sign-out must not sign it out."""
    if refused := _cross_site(request):
        return refused
    cleared(request.query_params.get("claim", ""))
    secure = cookie_secure(request.url.scheme)
    name = cookie_name(secure)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    if not alive(request.cookies.get(name)):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")
    return response


ROUTES = [Route(SESSION_PATH, keep_session), Route(END_PATH, end_session)]
