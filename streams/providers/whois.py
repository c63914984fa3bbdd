"""WHOIS (RFC 3912, TCP port 43): the registry's own answer where it offers no RDAP.

One query line per connection, the answer read until the server closes,
within a byte cap and a deadline. Only a validated host name is ever sent,
and only to servers from the table. A registry's answer that the policy
cannot read may name another registry server for the name: that one is asked
once, and only when the table knows it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from streams.providers.base import ProviderError, Verdict, report_unknown
from streams.providers.gate import Gate
from streams.providers.hostname import safe_hostname
from streams.providers.whois_policy import decide, decode_answer, query_line, read_answer, referral_target
from streams.providers.whois_servers import server_for, split_server, valid_server, valid_suffix

log = logging.getLogger("lapsewatch.whois")

MAX_ANSWER = 128 * 1024  # real answers are a few kilobytes
NO_SERVICE = "none"
_CHUNK = 16 * 1024


def refuse_unsafe(domain: object) -> str:
    """`domain` unless it holds a space, a line break or any control character (a second query line)."""
    if not isinstance(domain, str) or any(ch <= " " or ch == "\x7f" for ch in domain):
        raise ProviderError(f"refusing to query {domain!r}: it holds a space, a line break or a control character")
    return safe_hostname(domain)


class WhoisProvider:
    name = "whois"

    def __init__(
        self,
        servers: Mapping[str, str],
        timeout: float,
        *,
        gate: Gate | None = None,
        unserved: Mapping[str, str] | None = None,
        max_answer: int = MAX_ANSWER,
    ):
        """`servers`: TLD (or longer suffix) → "host[:port]", validated here (ValueError names a bad one).

        `timeout` bounds the connection, and then the whole answer: a server that trickles
        bytes cannot hold a check. `unserved`: TLD → why it has no server (for the verdict's detail).
        """
        self.servers = {valid_suffix(tld): valid_server(server) for tld, server in servers.items()}
        self.timeout = timeout
        self.gate = gate
        self.unserved = dict(unserved or {})
        self.max_answer = max_answer
        # Hosts a referral may lead to: only registry servers the table names.
        self._known: dict[str, str] = {}
        for server in self.servers.values():
            self._known.setdefault(split_server(server)[0], server)

    def route(self, domain: str) -> str:
        return server_for(self.servers, domain) or NO_SERVICE

    async def check(self, domain: str) -> Verdict:
        refuse_unsafe(domain)
        server = server_for(self.servers, domain)
        if server is None:
            tld = domain.rsplit(".", 1)[-1]
            why = self.unserved.get(tld)
            return Verdict(
                "inconclusive",
                ("no whois service",),
                f"no WHOIS server is known for .{tld}" + (f" ({why})" if why else ""),
            )
        answer = read_answer(await self._ask(server, domain), server, domain)
        verdict = decide(answer, _now())
        target = referral_target(answer, self._known)
        if verdict.verdict == "inconclusive" and answer.kind == "record" and target is not None:
            referred = await self._referred(target, server, domain)
            if referred is not None:
                return referred
        report_unknown(self.name, answer.unknown)
        return verdict

    async def _referred(self, target: str, server: str, domain: str) -> Verdict | None:
        """The verdict of the registry server `server` referred to; None (the first answer stands) if it fails."""
        try:
            if self.gate is not None:
                await self.gate.enter(self.name, f"{self.name} {target}")
            answer = read_answer(await self._ask(target, domain), target, domain)
        except ProviderError as exc:
            log.info("whois referral from %s to %s for %s gave nothing: %s", server, target, domain, exc)
            return None
        report_unknown(self.name, answer.unknown)
        verdict = decide(answer, _now())
        return replace(verdict, detail=f"{verdict.detail} (referred by {server})")

    async def _ask(self, server: str, domain: str) -> str:
        """One query, one answer: the decoded text, or ProviderError."""
        host, port = split_server(server)
        line = query_line(server, domain)
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(host, port, limit=_CHUNK)
        except TimeoutError:
            raise ProviderError(
                f"whois server {server} did not accept a connection within {self.timeout:g} s", server_wide=True
            ) from None
        except OSError as exc:  # refused, unreachable, no such host
            raise ProviderError(
                f"whois server {server} could not be reached: {type(exc).__name__}", server_wide=True
            ) from None
        try:
            async with asyncio.timeout(self.timeout):
                writer.write(line)
                await writer.drain()
                raw = await self._read(reader, server, domain)
        except TimeoutError:
            raise ProviderError(
                f"whois server {server} did not finish its answer for {domain} within {self.timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as exc:  # reset or cut: the server's trouble, whatever the name
            raise ProviderError(
                f"whois server {server} dropped the connection for {domain}: {type(exc).__name__}", server_wide=True
            ) from None
        finally:
            writer.transport.abort()  # nothing more to say either way; no lingering sockets
        if not raw.strip():
            # Every WHOIS server answers every query with text: silence is the server refusing us.
            raise ProviderError(
                f"whois server {server} closed the connection without an answer for {domain}", server_wide=True
            )
        return decode_answer(raw, server, domain)

    async def _read(self, reader: asyncio.StreamReader, server: str, domain: str) -> bytes:
        """Until the server closes; refused as soon as it passes the cap, so a huge answer costs no memory."""
        body = bytearray()
        while chunk := await reader.read(_CHUNK):
            body += chunk
            if len(body) > self.max_answer:
                raise ProviderError(f"whois answer from {server} for {domain} is larger than {self.max_answer} bytes")
        return bytes(body)

    async def aclose(self) -> None:
        # Each check opens and closes its own connection: nothing is kept between checks.
        return None


def _now() -> float:
    return datetime.now(UTC).timestamp()
