"""A real DNS server on loopback for tests, answering from a mutable plan.

    server = DnsServer().start()
    server.set("kept.com", ["ns1.host.net", "ns2.host.net"])   # NOERROR with NS records
    server.set("gone.com", "nxdomain")
    server.set("flaky.com", ["servfail", ["ns1.host.net"]])    # one answer per query, last repeats
    ...
    server.stop()

An answer is a list of NS hostnames, or one of "nxdomain", "servfail",
"noanswer" (NOERROR, empty) and "hang" (never answers). A list that holds a
keyword or a nested list is a sequence of answers instead, played one per
query with its last answer repeating. Unknown names answer NXDOMAIN.
"""

from __future__ import annotations

import socketserver
import threading
from collections import Counter

from dnslib import NS, QTYPE, RCODE, RR, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer, TCPServer

from streams.kafka.broker import free_port

KEYWORDS = ("nxdomain", "servfail", "noanswer", "hang")
Answer = str | list[str]


class _Drop(Exception):
    """Raised by the resolver to send nothing at all."""


class _UdpServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    # dnslib's own UDPServer sets SO_REUSEADDR, with which a bind on Linux
    # succeeds even when another such socket holds the port; without it a
    # taken port fails loudly and start() picks another.
    allow_reuse_address = False
    daemon_threads = True


class _Handler(DNSHandler):
    def handle(self) -> None:
        try:
            super().handle()
        except _Drop:
            pass


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _is_sequence(answer: Answer) -> bool:
    return isinstance(answer, list) and any(isinstance(a, list) or a in KEYWORDS for a in answer)


class _PlanResolver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: dict[str, Answer | list[Answer]] = {}
        self._queries: Counter[str] = Counter()
        self._total = 0  # every query, including ones set() reset since
        self.stopping = threading.Event()

    def set(self, domain: str, answer: Answer | list[Answer]) -> None:
        if isinstance(answer, list) and not answer:
            raise ValueError("an empty list is neither NS names nor a sequence of answers")
        with self._lock:
            self._plan[_key(domain)] = answer
            self._queries[_key(domain)] = 0

    def queries(self, domain: str | None) -> int:
        with self._lock:
            if domain is None:
                return self._total
            return self._queries[_key(domain)]

    def _next(self, name: str) -> Answer:
        with self._lock:
            index = self._queries[name]
            self._queries[name] += 1
            self._total += 1
            planned = self._plan.get(name, "nxdomain")
        if _is_sequence(planned):
            return planned[min(index, len(planned) - 1)]
        return planned

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname = str(request.q.qname)
        answer = self._next(_key(qname))
        if answer == "hang":
            if handler.protocol == "tcp":
                # Hold the connection open so the client waits, not sees a close.
                self.stopping.wait()
            raise _Drop
        reply = request.reply()
        if answer == "nxdomain":
            reply.header.rcode = RCODE.NXDOMAIN
        elif answer == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
        elif answer == "noanswer":
            pass
        elif isinstance(answer, list):
            if request.q.qtype == QTYPE.NS:
                for host in answer:
                    reply.add_answer(RR(request.q.qname, QTYPE.NS, rdata=NS(host), ttl=300))
        else:
            raise ValueError(f"unknown planned answer {answer!r} for {qname}")
        return reply


class DnsServer:
    address = "127.0.0.1"

    def __init__(self) -> None:
        self._resolver = _PlanResolver()
        self._servers: list[DNSServer] = []
        self.port = 0

    def start(self, attempts: int = 20) -> DnsServer:
        logger = DNSLogger(logf=lambda _line: None)
        for _ in range(attempts):
            port = free_port()  # free for TCP; UDP is tried by binding it
            try:
                udp = DNSServer(
                    self._resolver, address=self.address, port=port, logger=logger, handler=_Handler, server=_UdpServer
                )
            except OSError:
                continue
            try:
                tcp = DNSServer(
                    self._resolver, address=self.address, port=port, logger=logger, handler=_Handler, server=TCPServer
                )
            except OSError:
                udp.server.server_close()
                continue
            self._servers = [udp, tcp]
            self.port = port
            for server in self._servers:
                # A short poll so stop() returns quickly (dnslib's start_thread polls every 0.5 s).
                server.thread = threading.Thread(
                    target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
                )
                server.thread.start()
            return self
        raise RuntimeError(f"no port free for both UDP and TCP on {self.address} after {attempts} tries")

    def stop(self) -> None:
        self._resolver.stopping.set()
        for server in self._servers:
            server.stop()
            server.server.server_close()
            server.thread.join(timeout=5)
        self._servers = []

    def set(self, domain: str, answer: Answer | list[Answer]) -> None:
        """Plan the answers for `domain` and reset its query count."""
        self._resolver.set(domain, answer)

    def queries(self, domain: str | None = None) -> int:
        """How many queries (any type, UDP or TCP) reached the server for `domain`, or in all."""
        return self._resolver.queries(domain)

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
