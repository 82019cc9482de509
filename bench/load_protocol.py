"""A signed-in staff session that speaks Streamlit's own websocket protocol instead of driving a browser.

The load benchmark's browsers measure what a person sees, but Chromium drawing the tables and charts
took 2.5 times the CPU of the dashboard serving them (`bench/dashboard_load.py`). These
sessions load the dashboard as much (each is a real Streamlit session on the server: the page runs,
its fragments poll, the deltas are sent) at a fraction of the client's CPU, and time each action from
the rerun request to the server's "script finished" with the expected content among the deltas:
what the server takes, not what a screen shows.

The protocol is the browser's: BackMsg `rerun_script` with the page's name, its query string (the
library's filters are bound to the URL) and widget states; ForwardMsg deltas until `script_finished`;
`auto_rerun` asks the client to rerun a fragment every so often, which this client does as the
browser would (the live card every 2 s, the operations panels every 10 s, the sign-in check every 15 s).
The session cookie is made by `workers.service.sessions.start`, as a password sign-in makes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from contextlib import suppress
from http.cookies import SimpleCookie

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from bench.load_tour import ACTION_TIMEOUT, Library, Tally, pause
from bench.proxy import STICKY_COOKIE
from workers.service.sessions import COOKIE

WEBSOCKET = "websocket "  # what the names of these sessions' timings start with
FINISHED_SUCCESSFULLY = 0  # ForwardMsg.ScriptFinishedStatus of a whole run (a fragment's is 3)


class ProtocolSession:
    """One tab's worth of Streamlit session over a websocket, with the sign-in cookie of `token`."""

    def __init__(self, connection: ClientConnection, tally: Tally) -> None:
        self.connection, self.tally = connection, tally
        self.page_hash = ""
        self.texts: list[str] = []  # markdown, captions and metrics drawn by the current run
        self.widgets: dict[str, str] = {}  # label -> widget id, of the current run
        self.fragments: dict[str, float] = {}  # fragment id -> seconds between its reruns
        self.started, self.finished = asyncio.Event(), asyncio.Event()
        self.sticky: str | None = None  # the proxy's cookie on the handshake, if any
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def open(cls, url: str, token: str, tally: Tally) -> ProtocolSession:
        stream = url.replace("http", "ws", 1) + "/_stcore/stream"
        headers = {"Cookie": f"{COOKIE}={token}"}
        connection = await connect(
            stream, subprotocols=[Subprotocol("streamlit")], additional_headers=headers, max_size=None
        )
        session = cls(connection, tally)
        if connection.response is not None:
            for value in connection.response.headers.get_all("Set-Cookie"):
                if (morsel := SimpleCookie(value).get(STICKY_COOKIE)) is not None:
                    session.sticky = morsel.value
        session._tasks = [asyncio.create_task(session._read()), asyncio.create_task(session._poll())]
        return session

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await self.connection.close()

    async def _read(self) -> None:
        try:
            async for data in self.connection:
                message = ForwardMsg()
                message.ParseFromString(data if isinstance(data, bytes) else data.encode())
                self._take(message)
        except WebSocketException as error:
            self.tally.error("websocket", f"lost: {error}")

    def _take(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "new_session":  # the first message of every whole run
            self.page_hash = message.new_session.page_script_hash
            self.started.set()
        elif kind == "auto_rerun":
            self.fragments[message.auto_rerun.fragment_id] = message.auto_rerun.interval
        elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
            self._element(message.delta.new_element)
        elif kind == "script_finished" and message.script_finished == FINISHED_SUCCESSFULLY and self.started.is_set():
            self.finished.set()  # (not a run that was under way when this one was asked for)

    def _element(self, element: Element) -> None:
        kind = element.WhichOneof("type")
        if kind == "exception":
            self.tally.error("exception", f"websocket session: {element.exception.message[:120]}")
        elif kind == "markdown":
            self.texts.append(element.markdown.body)
        elif kind == "metric":
            self.texts.append(f"{element.metric.label}: {element.metric.body}")
        elif kind is not None and hasattr(getattr(element, kind), "label") and hasattr(getattr(element, kind), "id"):
            self.widgets[getattr(element, kind).label] = getattr(element, kind).id

    async def _poll(self) -> None:
        """Rerun each fragment that asked for it, at its interval (one tick a second is close enough)."""
        last: dict[str, float] = {}
        while True:
            await asyncio.sleep(1)
            if not self.finished.is_set():
                continue  # as a browser, which sends no fragment rerun while the page is running
            now = time.monotonic()
            for fragment, interval in list(self.fragments.items()):
                if now - last.setdefault(fragment, now) >= interval:
                    last[fragment] = now
                    await self._send(fragment=fragment)

    async def _send(
        self, *, page: str = "", query: str = "", widgets: Iterable[WidgetState] = (), fragment: str = ""
    ) -> None:
        message = BackMsg()
        state = message.rerun_script
        state.query_string, state.page_name = query, page
        if fragment:
            state.fragment_id, state.page_script_hash, state.is_auto_rerun = fragment, self.page_hash, True
        state.widget_states.widgets.extend(widgets)
        await self.connection.send(message.SerializeToString())

    async def run(
        self, name: str, expected: str, *, page: str, query: str = "", widgets: Iterable[WidgetState] = ()
    ) -> None:
        """Rerun `page` and time it to "script finished" with `expected` among the texts drawn."""
        self.started.clear()
        self.finished.clear()
        self.texts, self.widgets, self.fragments = [], {}, {}
        started = time.perf_counter()
        await self._send(page=page, query=query, widgets=widgets)
        try:
            await asyncio.wait_for(self.finished.wait(), ACTION_TIMEOUT / 1000)
        except TimeoutError:
            self.tally.error("timeout", f"{WEBSOCKET}{name}")
            return
        if not any(expected in text for text in self.texts):
            self.tally.error("timeout", f"{WEBSOCKET}{name}: finished without {expected!r} (drew {self.texts[:3]})")
            return
        self.tally.times[f"{WEBSOCKET}{name}"].append(time.perf_counter() - started)


async def _filter(session: ProtocolSession, library: Library, think: float) -> None:
    """Status "failed", Apply; then "any status", Apply: the library's filter form, as the browsers use it."""
    for option, count in (("failed", library.failed), ("any status", library.total)):
        if not {"Status", "Apply"} <= session.widgets.keys():
            return  # the library did not draw: counted already
        await asyncio.sleep(pause(think))
        status = WidgetState(id=session.widgets["Status"], string_value=option)
        apply = WidgetState(id=session.widgets["Apply"], trigger_value=True)
        await session.run(
            "library: filter", f"{count:,} narrations · page 1 of", page="library", widgets=[status, apply]
        )


async def protocol_tour(session: ProtocolSession, n: int, library: Library, deadline: float, think: float) -> None:
    """The browsers' round (`bench/load_tour.py`), over the protocol, until `deadline`."""
    row = library.live_rows[n % len(library.live_rows)]
    await asyncio.sleep(pause(think))  # signed in together, they do not all click in the same instant
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        words = f"Session {n}, round {rounds}. " + "A calm sentence. " * (5 + rounds % 40)
        steps = [
            ("library: open", f"{library.total:,} narrations · page 1 of", "library", "", 0.0),
            ("narration page (live card)", f"Scene narration #{row}", "narration", f"kind=scene&id={row}", 6.0),
            ("compose: open", "Characters: ", "", "", 0.0),
            ("operations", "Updated ", "operations", "", 0.0),
        ]
        for name, expected, page, query, stay in steps:
            if time.monotonic() >= deadline:
                return
            await session.run(name, expected, page=page, query=query)
            if name == "library: open":
                await _filter(session, library, think)
            if name == "compose: open" and "Text to narrate" in session.widgets:
                typed = WidgetState(id=session.widgets["Text to narrate"], string_value=words)
                await asyncio.sleep(pause(think))
                await session.run("compose: estimate", f"Characters: {len(words):,}", page="", widgets=[typed])
            await asyncio.sleep(pause(think) + stay)
