"""The one HTTP route a Streamlit script cannot provide: it sets the session cookie.

After a password sign-in the page loads `/narration-desk/session?claim=…` in a tiny iframe, and this
route answers with the session cookie (`workers/sessions.py` says why and how the session is kept).
Kept apart from `server.py` so tests can serve it without starting Streamlit.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from workers.sessions import COOKIE, SESSION_PATH, lifetime_seconds, redeem


def keep_session(request: Request) -> Response:
    """Trade a one-time claim for the HttpOnly session cookie (a plain function: Starlette runs it
    in a thread, so the Redis call does not hold up the event loop)."""
    if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        # Only the page's own frame may trade a claim: a link from elsewhere must not sign this
        # browser in as whoever sent it.
        return PlainTextResponse("Open Narration Desk itself and sign in there.", status_code=403)
    token = redeem(request.query_params.get("claim", ""))
    if token is None:
        return PlainTextResponse("This sign-in link was used or has expired. Sign in again.", status_code=404)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE,
        token,
        max_age=lifetime_seconds(),
        httponly=True,  # the page's scripts never see it
        samesite="strict",  # nor is it sent when another site links or posts here
        secure=request.url.scheme == "https",
    )
    return response


ROUTES = [Route(SESSION_PATH, keep_session)]
