"""A real WHOIS server (RFC 3912, TCP) on loopback for tests, answering from a mutable plan.

    server = WhoisServer().start()                  # or WhoisServer("127.0.0.2"): another host on loopback
    server.server                                   # "127.0.0.1:PORT": a table entry for the provider
    server.set("shop.de", {"bytes": whois_answers.denic("shop.de")})
    server.set("slow.de", [{"hang": 30}, {"bytes": b"..."}])   # one per query, the last repeating
    ...
    server.stop()

It reads one query line per connection, finds the name in it (the last word,
without JPRS's "/e"), answers from the plan and closes, as WHOIS servers do.

Answers (dicts):
    {"bytes": b"..."}                  that answer, then close
    {"bytes": b"...", "delay": s}      wait s seconds first
    {"chunks": [b"..", ...], "gap": s} the answer in pieces, s seconds apart
    {"hang": s}                        say nothing for s seconds (cut short by stop() or go_down()), then close
    {"trickle": s}                     one byte every s seconds, for ever (until the client or stop() ends it)
    {"huge": n}                        n bytes of comment lines, then close
    {"close": True}                    close at once, without a word
    {"reset": True}                    abort the connection (the client sees a reset)

An unplanned name gets a one-line comment (no record). `set()` resets the
name's sequence.

Every query line is recorded with the moment it arrived: `queries` (all),
`queries_for(name)`; `connections` counts accepted connections, also those
that sent nothing. An outage, as a real one looks to a client:

    server.go_down()       # stop listening (connection refused), cut every open connection
    server.come_back()     # listen again on the same port
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
import weakref
from typing import Any, NamedTuple

from tests.server_thread import ServerThread

Answer = dict[str, Any]
FORMS = ("bytes", "chunks", "hang", "trickle", "huge", "close", "reset")
MAX_QUERY = 4096


class Query(NamedTuple):
    monotonic: float
    line: bytes  # as received, line end included
    name: str  # lowercase, "" when the line holds none
    peer: int | None  # the client's source port


def name_in(line: bytes) -> str:
    """The domain a query line asks about: its last word, without JPRS's "/e"."""
    words = line.decode("ascii", "replace").split()
    if not words:
        return ""
    word = words[-1]
    return (word[:-2] if word.endswith("/e") else word).lower().rstrip(".")


def _validate(answer: object) -> None:
    if not isinstance(answer, dict):
        raise ValueError(f"a WHOIS answer is a dict, not {answer!r}")
    forms = [form for form in FORMS if form in answer]
    if len(forms) != 1:
        raise ValueError(f"an answer has exactly one form of {FORMS}: {answer!r}")
    if "bytes" in answer and not isinstance(answer["bytes"], bytes):
        raise ValueError(f"an answer's bytes are bytes: {answer!r}")


class WhoisServer(ServerThread):
    what = "WHOIS server"

    def __init__(self, address: str = "127.0.0.1") -> None:
        super().__init__()
        self.address = address  # any 127.x.y.z: a second "host" on loopback, for referrals
        self.port = 0
        self._lock = threading.Lock()
        self._plan: dict[str, Answer | list[Answer]] = {}
        self._played: dict[str, int] = {}
        self._queries: list[Query] = []
        self._connections = 0
        self._writers: weakref.WeakSet = weakref.WeakSet()
        self._server: asyncio.base_events.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._cut: asyncio.Event | None = None

    # --- the plan, from the test's thread -------------------------------------

    def set(self, name: str, answer: Answer | list[Answer]) -> None:
        answers = answer if isinstance(answer, list) else [answer]
        if not answers:
            raise ValueError("an empty list is no sequence of answers")
        for one in answers:
            _validate(one)
        key = name.lower().rstrip(".")
        with self._lock:
            self._plan[key] = answer
            self._played.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._plan.clear()
            self._played.clear()
            self._queries.clear()

    @property
    def server(self) -> str:
        """This server as a WHOIS table entry: host:port."""
        return f"{self.address}:{self.port}"

    @property
    def queries(self) -> list[Query]:
        with self._lock:
            return list(self._queries)

    def queries_for(self, name: str) -> list[Query]:
        key = name.lower().rstrip(".")
        return [query for query in self.queries if query.name == key]

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def _next(self, name: str) -> Answer | None:
        with self._lock:
            planned = self._plan.get(name)
            if planned is None:
                return None
            index = self._played.get(name, 0)
            self._played[name] = index + 1
            return planned[min(index, len(planned) - 1)] if isinstance(planned, list) else planned

    # --- the server, in its own thread ----------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        with self._lock:
            self._connections += 1
        try:
            line = await self._read_query(reader)
            if line is None:
                return
            name = name_in(line)
            with self._lock:
                self._queries.append(Query(time.monotonic(), line, name, peer[1] if peer else None))
            answer = self._next(name)
            if answer is None:
                answer = {"bytes": f"% lapsewatch test server: nothing planned for {name}\r\n".encode()}
            await self._answer(writer, answer)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client went away: what a deadline or a size limit does
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def _read_query(self, reader: asyncio.StreamReader) -> bytes | None:
        waits = [
            asyncio.ensure_future(reader.readline()),
            asyncio.ensure_future(self._cut.wait()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        done, pending = await asyncio.wait(waits, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
        if waits[0] not in done or waits[0].exception() is not None:
            return None
        line = waits[0].result()
        return line[:MAX_QUERY] if line else None

    async def _pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the server stops or goes down; True if the wait ran its course."""
        waits = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._cut.wait())]
        done, pending = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for wait in pending:
            wait.cancel()
        return not done

    async def _answer(self, writer: asyncio.StreamWriter, answer: Answer) -> None:
        if answer.get("delay") and not await self._pause(float(answer["delay"])):
            return
        if "chunks" in answer:
            for index, chunk in enumerate(answer["chunks"]):
                if index and not await self._pause(float(answer.get("gap", 0.05))):
                    return
                writer.write(chunk)
                await writer.drain()
        elif "bytes" in answer:
            writer.write(answer["bytes"])
            await writer.drain()
        elif "hang" in answer:
            await self._pause(float(answer["hang"]))
        elif "trickle" in answer:
            while not writer.transport.is_closing() and await self._pause(float(answer["trickle"])):
                writer.write(b".")
                await writer.drain()
        elif "huge" in answer:
            line = b"% " + b"x" * 77 + b"\r\n"
            left = int(answer["huge"])
            while left > 0 and not writer.transport.is_closing() and not self._stopping.is_set():
                part = line * 64
                writer.write(part[:left])
                left -= len(part)
                await writer.drain()
        elif "reset" in answer:
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0: close sends RST, not FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        # "close": nothing to say

    async def _listen(self, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, self.address, port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self) -> None:
        self._stopping, self._cut = asyncio.Event(), asyncio.Event()
        await self._listen(0)

    # --- outages ----------------------------------------------------------------

    def go_down(self) -> None:
        """Refuse connections (nothing listens on the port) and cut every open one, until come_back()."""

        async def down() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for writer in list(self._writers):
                writer.transport.abort()
            self._cut.set()

        self._call(down())

    def come_back(self, timeout: float = 10.0) -> None:
        """Listen on the same port again (retrying while the port is not yet free)."""

        async def up() -> None:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await self._listen(self.port)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
                    continue
                self._cut = asyncio.Event()
                return

        self._call(up(), timeout + 5)

    async def _shutdown(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)
