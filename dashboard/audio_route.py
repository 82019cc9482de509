"""The route that plays and downloads a narration's whole file: `/narration-desk/audio/{kind}/{id}`.

The page's player and its download link point here, so the dashboard never reads a file into memory
to show it: Starlette's FileResponse streams it from disk and answers Range requests (206 Partial
Content, 416 for a range past the end), which is what lets a browser seek in an hour-long file. The
file is the one the row names, resolved inside the media root by `workers.engine.media` (never a path from
the URL), and only for someone the session cookie signs in (any role: viewers listen and download).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from dashboard.views import full_file
from db.narrations import KINDS
from workers.service.sessions import cookie_name, cookie_secure, resume

AUDIO_PATH = "/narration-desk/audio"


def audio_path(kind: str, row_id: int, *, download: bool = False) -> str:
    """The route's address for one narration (from the site's root); `download` asks for a file to save."""
    return f"{AUDIO_PATH}/{kind}/{row_id}" + ("?download=1" if download else "")


def serve_audio(request: Request) -> Response:
    """The narration's file, or a refusal that holds neither file bytes nor the stored path (a plain
    function: Starlette runs it in a thread, so the Redis and database reads do not hold up others)."""
    token = request.cookies.get(cookie_name(cookie_secure(request.url.scheme)))
    if resume(token) is None:  # no session, an ended one, or an account that may no longer sign in
        return PlainTextResponse("Sign in to Narration Desk to hear this narration.", status_code=401)
    kind, raw = request.path_params["kind"], request.path_params["row_id"]
    found = full_file(kind, int(raw)) if kind in KINDS and raw.isdigit() and len(raw) <= 18 else None
    if found is None or (found.path is None and found.refused is None):
        return PlainTextResponse("This narration has no audio file.", status_code=404)
    if found.path is None:
        return PlainTextResponse(found.refused or "", status_code=403)
    return FileResponse(
        found.path,
        media_type=found.mime,
        filename=found.download_name if request.query_params.get("download") == "1" else None,
        headers={"Cache-Control": "private, no-cache"},  # a redo may replace the file: ask again each time
    )


ROUTES = [Route(AUDIO_PATH + "/{kind}/{row_id}", serve_audio)]
