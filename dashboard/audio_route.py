"""The route that plays and downloads a narration's whole file: `/narration-desk/audio/{kind}/{id}`.

The page's player and its download link point here, so the dashboard never reads a whole file into
memory to show it, and answers Range requests (206 Partial Content, 416 for a range past the end),
which is what lets a browser seek in an hour-long file. Under MEDIA_ROOT, Starlette's FileResponse
streams the file from disk; in a bucket (STORAGE_URL), the route streams the object through the
dashboard with a ranged GET for each Range asked (`workers.engine.store.ObjectStore` says why this
rather than a presigned URL). The file is the one the row names, checked by `workers.engine.media`
(never a path from the URL), and only for someone the session cookie signs in (any role: viewers
listen and download).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from dashboard.views import FullFile, full_file
from db.narrations import KINDS
from workers.engine.store import media_store
from workers.service.sessions import cookie_name, cookie_secure, resume

AUDIO_PATH = "/narration-desk/audio"
NO_CACHE = {"Cache-Control": "private, no-cache"}  # a redo may replace the file: ask again each time
_ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def audio_path(kind: str, row_id: int, *, download: bool = False) -> str:
    """The route's address for one narration (from the site's root); `download` asks for a file to save."""
    return f"{AUDIO_PATH}/{kind}/{row_id}" + ("?download=1" if download else "")


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:
    """The one range a Range header asks of a `size`-byte file, as (start, end exclusive); None to
    send the whole file (no header, several ranges or one that cannot be read, which RFC 9110 lets
    a server ignore); False when the range lies past the end (416)."""
    found = _ONE_RANGE.fullmatch((header or "").strip())
    if found is None or found.group(1) == found.group(2) == "":
        return None
    first, last = found.group(1), found.group(2)
    if first == "":  # the last N bytes
        start, end = max(size - int(last), 0), size
        return (start, end) if int(last) > 0 and size > 0 else False
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if last and int(last) < start:
        return None
    return (start, end) if start < size else False


def _attachment(filename: str) -> str:
    """Content-Disposition as Starlette's FileResponse writes it (RFC 5987 for names past ASCII)."""
    quoted = quote(filename)
    return f"attachment; filename*=utf-8''{quoted}" if quoted != filename else f'attachment; filename="{filename}"'


def _from_bucket(found: FullFile, request: Request, download: bool) -> Response:
    """The object, whole or the one range asked, streamed from the bucket through the dashboard."""
    assert found.name is not None
    headers = {**NO_CACHE, "Accept-Ranges": "bytes"}
    if download:
        headers["Content-Disposition"] = _attachment(found.download_name)
    span = byte_range(request.headers.get("range"), found.size)
    if span is False:
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{found.size}"})
    start, end = span if isinstance(span, tuple) else (0, found.size)
    headers["Content-Length"] = str(end - start)
    if isinstance(span, tuple):
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{found.size}"
    pieces = media_store().stream(found.name, "audio", start, end) if end > start else iter([b""])
    return StreamingResponse(pieces, status_code=206 if span else 200, media_type=found.mime, headers=headers)


def serve_audio(request: Request) -> Response:
    """The narration's file, or a refusal that holds neither file bytes nor the stored path (a plain
    function: Starlette runs it in a thread, so the Redis and database reads do not hold up others)."""
    token = request.cookies.get(cookie_name(cookie_secure(request.url.scheme)))
    if resume(token) is None:  # no session, an ended one, or an account that may no longer sign in
        return PlainTextResponse("Sign in to Narration Desk to hear this narration.", status_code=401)
    kind, raw = request.path_params["kind"], request.path_params["row_id"]
    found = full_file(kind, int(raw)) if kind in KINDS and raw.isdigit() and len(raw) <= 18 else None
    if found is None or (found.name is None and found.refused is None):
        return PlainTextResponse("This narration has no audio file.", status_code=404)
    if found.name is None:
        return PlainTextResponse(found.refused or "", status_code=403)
    download = request.query_params.get("download") == "1"
    if found.path is None:
        return _from_bucket(found, request, download)
    return FileResponse(
        found.path,
        media_type=found.mime,
        filename=found.download_name if download else None,
        headers=NO_CACHE,
    )


ROUTES = [Route(AUDIO_PATH + "/{kind}/{row_id}", serve_audio)]
