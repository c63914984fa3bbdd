"""A real HTTPS RDAP server on loopback for tests, answering from a mutable plan.

    server = RdapServer().start()
    base = server.base_url("registry")                     # "https://127.0.0.1:PORT/registry/"
    server.set("shop.test", {"json": docs.domain_object("shop.test", ["active"], None, None)})
    server.set("flaky.test", [{"status": 503, "retry_after": "2"}, {"json": {...}}])  # one per request
    server.set("thin.test", {"json": {...}}, prefix="registrar")   # only under /registrar/
    server.serve_bootstrap(docs.dns_bootstrap({"test": base}))     # GET server.bootstrap_url
    ...
    server.stop()

It serves `GET /<prefix>/domain/<name>` for any prefix (and `/domain/<name>`),
with the test CA's certificate (tests/tls.py) for 127.0.0.1 and localhost.

Answers (dicts):
    {"json": {...}}                        200 application/rdap+json with that body
    {"status": 404|500|503|...}            that status with an RFC 9083 error body
    {"status": 429, "retry_after": "2"}    ... and a Retry-After header (any status)
    {"status": 429, "retry_after_date": 3} ... Retry-After as an HTTP-date that many seconds after
                                           the request (RFC 9110 §10.2.3), made when it arrives
    {"redirect": "<url>", "status": 301}   a redirect (301, 302, 303, 307, 308; 302 if not given)
    {"hang": seconds}                      wait that long (cut short by stop()), then 504
    {"raw": "<text>", "content_type": ...} 200 with that body (text/plain if not given)
    {"truncated": {...}}                   200 with the first half of the dict's JSON
    {"huge": n}                            200 application/rdap+json, n bytes, chunked (no Content-Length)
    {"trickle": seconds}                   200, one byte every `seconds` for ever (every read is quick)

Any answer may also carry "headers": {...} (added to the response), a "json"
or "raw" answer a "status", and a "json" answer a "content_type". A list of
answers is played one per request, its last answer repeating. Names match
case-insensitively; a plan for a prefix wins over one for any prefix; an
unplanned name gets 404 with an RFC 9083 error body. `set()` resets the
name's sequence and request count.

Every request (also unplanned paths and the bootstrap file) is recorded in
`server.requests` as (method, path, query_string, headers); the headers dict
looks names up case-insensitively.

Every `GET .../domain/<name>` is also recorded with the moment it arrived, for
assertions on how often a name is asked:

    server.asks(name, prefix="registry")   # [Ask(monotonic, epoch, prefix, name, answer, peer), ...]
    server.ask_times(name, prefix="registry")  # their time.monotonic() values (one clock for every process)

A redirect's target and a registrar's "related" link are other requests under
their own prefix (or on another server): ask the registry's prefix alone to
count only the asks that start a check. `set()` leaves this record alone;
`clear()` empties it.

An outage, as a real one looks to a client (connection refused on the same
address, every open connection cut):

    server.go_down()       # stop listening, abort every connection (hangs and trickles end)
    server.come_back()     # listen again on the same port; the plan is as it was
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
import weakref
from collections import Counter
from email.utils import formatdate
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from streams.kafka.broker import free_port
from tests.rdap_documents import RDAP_CONTENT_TYPE, error_object
from tests.server_thread import ServerThread
from tests.tls import certificate_authority

Answer = dict[str, Any]
ANY = None  # the prefix key of a plan that holds under every prefix
REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024


class Ask(NamedTuple):
    """One `GET .../domain/<name>`, stamped when it arrived."""

    monotonic: float  # time.monotonic(): comparable across processes on one machine (CLOCK_MONOTONIC)
    epoch: float  # time.time()
    prefix: str  # the path before /domain/ ("registry", "registrar", "" for /domain/<name>)
    name: str  # lowercase, no trailing dot
    answer: str  # the answer's form ("json", "hang", "status 429", ...; "404" when unplanned)
    peer: int | None = None  # the client's source port: which process asked, for diagnostics


def _form(answer: Answer | None) -> str:
    if answer is None:
        return "404"
    for form in ("json", "redirect", "hang", "raw", "truncated", "huge", "trickle"):
        if form in answer:
            return form
    return f"status {answer['status']}"


class Headers(dict):
    """Request headers: a plain dict whose lookups ignore the case of the name."""

    def _find(self, key: object) -> object:
        if isinstance(key, str) and not dict.__contains__(self, key):
            for name in self:
                if name.lower() == key.lower():
                    return name
        return key

    def __getitem__(self, key: object) -> str:
        return dict.__getitem__(self, self._find(key))

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, self._find(key))

    def get(self, key: object, default: Any = None) -> Any:
        return dict.get(self, self._find(key), default)


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _prefix_key(prefix: str | None) -> str | None:
    return None if prefix is None else prefix.strip("/")


def _validate(answer: object) -> None:
    if not isinstance(answer, dict):
        raise ValueError(f"an RDAP answer is a dict, not {answer!r}")
    forms = [form for form in ("json", "redirect", "hang", "raw", "truncated", "huge", "trickle") if form in answer]
    if len(forms) > 1:
        raise ValueError(f"an answer has one form, not {forms}: {answer!r}")
    status = answer.get("status")
    if status is not None and not (isinstance(status, int) and 100 <= status <= 599):
        raise ValueError(f"bad status in {answer!r}")
    if not forms and status is None:
        raise ValueError(f"unknown RDAP answer {answer!r}")
    if "redirect" in answer and (status or 302) not in REDIRECTS:
        raise ValueError(f"a redirect's status is one of {REDIRECTS}: {answer!r}")
    if "huge" in answer and not (isinstance(answer["huge"], int) and answer["huge"] >= 64):
        raise ValueError(f"a huge answer is at least 64 bytes: {answer!r}")
    if "retry_after_date" in answer:
        if "retry_after" in answer:
            raise ValueError(f"one Retry-After, not two: {answer!r}")
        if isinstance(answer["retry_after_date"], bool) or not isinstance(answer["retry_after_date"], (int, float)):
            raise ValueError(f"retry_after_date is a number of seconds: {answer!r}")


def _error_response(status: int, description: str, headers: dict[str, str] | None = None) -> web.Response:
    titles = {
        400: "Bad Request",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    try:
        from http import HTTPStatus

        title = titles.get(status) or HTTPStatus(status).phrase
    except ValueError:
        title = f"HTTP {status}"
    body = orjson.dumps(error_object(status, title, description))
    return web.Response(status=status, body=body, content_type=RDAP_CONTENT_TYPE, headers=headers)


class RdapServer(ServerThread):
    what = "RDAP server"
    address = "127.0.0.1"

    def __init__(self) -> None:
        super().__init__()
        self.port = 0
        self._lock = threading.Lock()
        self._plan: dict[tuple[str | None, str], Answer | list[Answer]] = {}
        self._played: Counter[tuple[str | None, str]] = Counter()  # requests per plan since set()
        self._counts: Counter[tuple[str, str]] = Counter()  # (prefix, name) → requests since set()
        self._requests: list[tuple[str, str, str, Headers]] = []
        self._asks: list[Ask] = []
        self._asks_of: dict[str, list[Ask]] = {}  # name -> its asks: cheap to poll per name
        self._transports: weakref.WeakSet = weakref.WeakSet()  # open connections, to cut in an outage
        self._site: web.TCPSite | None = None
        self._down = False
        self._bootstrap: tuple[bool, dict | None] = (False, None)
        self._stopping: asyncio.Event | None = None
        self._cut: asyncio.Event | None = None  # set while down: planned hangs end
        self._runner: web.AppRunner | None = None

    # --- the plan, from the test's thread -------------------------------------

    def set(self, name: str, answer: Answer | list[Answer], prefix: str | None = None) -> None:
        """Plan the answers for `name` under `prefix` (None: any prefix); reset its sequence and count."""
        answers = answer if isinstance(answer, list) else [answer]
        if not answers:
            raise ValueError("an empty list is no sequence of answers")
        for one in answers:
            _validate(one)
        key = (_prefix_key(prefix), _key(name))
        with self._lock:
            self._plan[key] = answer
            for planned in list(self._played):
                if planned[1] == key[1] and (key[0] is None or planned[0] == key[0]):
                    del self._played[planned]
            for counted in list(self._counts):
                if counted[1] == key[1] and (key[0] is None or counted[0] == key[0]):
                    del self._counts[counted]

    def unset(self, name: str, prefix: str | None = None) -> None:
        """Forget the plan for `name` under `prefix` (the default 404 answers again)."""
        with self._lock:
            self._plan.pop((_prefix_key(prefix), _key(name)), None)

    def clear(self) -> None:
        """Forget every plan, count and recorded request (and the bootstrap file)."""
        with self._lock:
            self._plan.clear()
            self._played.clear()
            self._counts.clear()
            self._requests.clear()
            self._asks.clear()
            self._asks_of.clear()
            self._bootstrap = (False, None)

    def serve_bootstrap(self, document: dict | None) -> None:
        """`GET /bootstrap/dns.json` returns `document` (application/json), or 503 for None."""
        with self._lock:
            self._bootstrap = (True, document)

    @property
    def requests(self) -> list[tuple[str, str, str, Headers]]:
        """Every request so far, oldest first: (method, path, query_string, headers). A copy."""
        with self._lock:
            return list(self._requests)

    def asks(self, name: str | None = None, prefix: str | None = None) -> list[Ask]:
        """Every `GET .../domain/<name>` so far (of `name`, under `prefix`; None: all), oldest first."""
        key, prefix = (None if name is None else _key(name)), _prefix_key(prefix)
        with self._lock:
            asks = self._asks if key is None else self._asks_of.get(key, ())
            return [ask for ask in asks if prefix is None or ask.prefix == prefix]

    def ask_times(self, name: str, prefix: str | None = None) -> list[float]:
        """When `name` was asked under `prefix` (None: any), as time.monotonic() values, oldest first."""
        return [ask.monotonic for ask in self.asks(name, prefix)]

    def count(self, name: str, prefix: str | None = None) -> int:
        """Requests for `name` under `prefix` (None: under any prefix) since its last set()."""
        name = _key(name)
        with self._lock:
            return sum(
                n for (p, d), n in self._counts.items() if d == name and (prefix is None or p == _prefix_key(prefix))
            )

    def base_url(self, prefix: str = "registry") -> str:
        """The RDAP base URL for `prefix`, ending with "/": https://127.0.0.1:PORT/registry/."""
        prefix = prefix.strip("/")
        return f"{self.url}/{prefix}/" if prefix else f"{self.url}/"

    @property
    def url(self) -> str:
        return f"https://{self.address}:{self.port}"

    @property
    def bootstrap_url(self) -> str:
        return f"{self.url}/bootstrap/dns.json"

    def _next(self, prefix: str, name: str, peer: int | None = None) -> Answer | None:
        arrived = (time.monotonic(), time.time())
        with self._lock:
            self._counts[(prefix, name)] += 1
            key = (prefix, name) if (prefix, name) in self._plan else (ANY, name)
            planned = self._plan.get(key)
            answer = None
            if planned is not None:
                index = self._played[key]
                self._played[key] += 1
                answer = planned[min(index, len(planned) - 1)] if isinstance(planned, list) else planned
            ask = Ask(*arrived, prefix, name, _form(answer), peer)
            self._asks.append(ask)
            self._asks_of.setdefault(name, []).append(ask)
        return answer

    # --- the server, in its own thread ----------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler):
        if request.transport is not None:
            self._transports.add(request.transport)
        headers = Headers()
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        with self._lock:
            self._requests.append((request.method, request.path, request.query_string, headers))
        return await handler(request)

    async def _domain(self, request: web.Request) -> web.StreamResponse:
        prefix = request.match_info.get("prefix", "").strip("/")
        name = request.match_info["name"]
        peername = request.transport.get_extra_info("peername") if request.transport is not None else None
        answer = self._next(prefix, _key(name), peername[1] if peername else None)
        if answer is None:
            return _error_response(404, f"The domain {name} was not found at this server.")
        return await self._answer(request, answer)

    async def _answer(self, request: web.Request, answer: Answer) -> web.StreamResponse:
        headers = dict(answer.get("headers", {}))
        if "retry_after" in answer:
            headers["Retry-After"] = str(answer["retry_after"])
        if "retry_after_date" in answer:
            # An HTTP-date has whole seconds: round up, so the wait is never shorter than planned.
            headers["Retry-After"] = formatdate(math.ceil(time.time() + float(answer["retry_after_date"])), usegmt=True)
        if "json" in answer:
            response = web.Response(
                status=answer.get("status", 200), body=orjson.dumps(answer["json"]), headers=headers
            )
            response.headers["Content-Type"] = answer.get("content_type", RDAP_CONTENT_TYPE)
            return response
        if "raw" in answer:
            raw = answer["raw"]
            body = raw.encode() if isinstance(raw, str) else bytes(raw)
            response = web.Response(status=answer.get("status", 200), body=body, headers=headers)
            response.headers["Content-Type"] = answer.get("content_type", "text/plain")
            return response
        if "truncated" in answer:
            body = orjson.dumps(answer["truncated"])
            return web.Response(
                status=200, body=body[: len(body) // 2], content_type=RDAP_CONTENT_TYPE, headers=headers
            )
        if "redirect" in answer:
            headers["Location"] = answer["redirect"]
            return web.Response(status=answer.get("status", 302), headers=headers)
        if "hang" in answer:
            # Cut short by stop(), and by go_down() (the connection is gone: nobody waits for the answer).
            waits = [asyncio.ensure_future(self._stopping.wait()), asyncio.ensure_future(self._cut.wait())]
            await asyncio.wait(waits, timeout=float(answer["hang"]), return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()
            return _error_response(504, "The server took too long (a planned hang).", headers)
        if "huge" in answer:
            return await self._huge(request, int(answer["huge"]), headers)
        if "trickle" in answer:
            return await self._trickle(request, float(answer["trickle"]), headers)
        return _error_response(answer["status"], f"A planned HTTP {answer['status']}.", headers)

    async def _huge(self, request: web.Request, size: int, headers: dict[str, str]) -> web.StreamResponse:
        head = b'{"objectClassName":"domain","ldhName":"huge.invalid","padding":"'
        tail = b'"}'
        padding = size - len(head) - len(tail)
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = RDAP_CONTENT_TYPE
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await response.write(head)
            chunk = b"x" * _CHUNK
            while padding > 0 and not self._stopping.is_set():
                transport = request.transport
                if transport is None or transport.is_closing():
                    return response  # the client stopped reading: what a size limit does
                part = chunk if padding >= _CHUNK else chunk[:padding]
                await response.write(part)
                padding -= len(part)
                await asyncio.sleep(0)  # let a lost connection be noticed before the next chunk
            await response.write(tail)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the client stopped reading: what a size limit does
        return response

    async def _trickle(self, request: web.Request, every: float, headers: dict[str, str]) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=headers)
        response.content_type = RDAP_CONTENT_TYPE
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            await response.write(b'{"objectClassName":"domain","padding":"')
            while not self._stopping.is_set():
                transport = request.transport
                if transport is None or transport.is_closing():
                    return response
                await response.write(b"x")
                await asyncio.sleep(every)
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response

    async def _bootstrap_file(self, request: web.Request) -> web.Response:
        with self._lock:
            served, document = self._bootstrap
        if not served:
            return _error_response(404, "No bootstrap file is served (serve_bootstrap() was not called).")
        if document is None:
            return _error_response(503, "The bootstrap file is unavailable (planned).")
        return web.Response(body=orjson.dumps(document), content_type="application/json")

    async def _unknown(self, request: web.Request) -> web.Response:
        return _error_response(404, f"Nothing is served at {request.path}.")

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/bootstrap/dns.json", self._bootstrap_file)
        app.router.add_get("/domain/{name}", self._domain)
        app.router.add_get("/{prefix:.+}/domain/{name}", self._domain)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        return app

    async def _serve(self, attempts: int = 20) -> None:
        self._stopping = asyncio.Event()
        self._cut = asyncio.Event()
        # Short shutdown: stop() wakes hangs and ends streams, nothing should take longer.
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        ssl_context = certificate_authority().server_ssl_context()
        last: OSError | None = None
        for _ in range(attempts):
            port = free_port()
            site = web.TCPSite(self._runner, self.address, port, ssl_context=ssl_context)
            try:
                await site.start()
            except OSError as error:  # taken between free_port() and the bind: try another
                last = error
                continue
            self.port, self._site = port, site
            return
        raise RuntimeError(f"no free port on {self.address} after {attempts} tries") from last

    # --- outages ----------------------------------------------------------------

    @property
    def is_down(self) -> bool:
        return self._down

    def go_down(self) -> None:
        """Refuse connections (nothing listens on the port) and cut every open one, until come_back()."""

        async def down() -> None:
            if self._site is not None:
                await self._site.stop()
                self._site = None
            # A kept-alive connection would still be answered: a machine that is down answers nothing.
            transports = set(self._transports)
            server = self._runner.server if self._runner is not None else None
            for handler in getattr(server, "connections", None) or []:  # also those that sent nothing yet
                if getattr(handler, "transport", None) is not None:
                    transports.add(handler.transport)
            for transport in transports:
                transport.abort()
            self._transports = weakref.WeakSet()
            self._cut.set()

        self._call(down())
        self._down = True

    def come_back(self, timeout: float = 10.0) -> None:
        """Listen on the same address and port again (retrying while the port is not yet free)."""

        async def up() -> None:
            ssl_context = certificate_authority().server_ssl_context()
            deadline = time.monotonic() + timeout
            while True:
                site = web.TCPSite(self._runner, self.address, self.port, ssl_context=ssl_context)
                try:
                    await site.start()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.05)
                    continue
                self._site, self._cut = site, asyncio.Event()
                return

        self._call(up(), timeout + 5)
        self._down = False

    async def _shutdown(self) -> None:
        self._stopping.set()
        await self._runner.cleanup()
