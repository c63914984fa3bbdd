"""A TLS terminator for the tests: TLS on one loopback port, plaintext Kafka (Tansu) behind it.

    proxy = TlsProxy(upstream_port=broker.port, ca=certificate_authority()).start()
    proxy.require_client_cert = True    # mTLS: a client without a certificate from the CA is refused
    proxy.accepted                      # per accepted connection: the client certificate's subject, or None
    proxy.refused                       # per refused handshake: why

It runs its own event loop in a thread, so a test may block on a command while its clients talk through it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Coroutine

from streams.kafka.broker import free_port
from tests.tls import CertificateAuthority


class TlsProxy:
    def __init__(self, upstream_port: int, ca: CertificateAuthority, port: int | None = None):
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.accepted: list[str | None] = []
        self.refused: list[str] = []
        self._context = ca.server_ssl_context()
        # Consulted only when verify_mode asks for a client certificate (require_client_cert).
        self._context.load_verify_locations(cafile=ca.ca_pem_path)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tls-proxy", daemon=True)
        self._tasks: set[asyncio.Task] = set()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def require_client_cert(self) -> bool:
        return self._context.verify_mode == ssl.CERT_REQUIRED

    @require_client_cert.setter
    def require_client_cert(self, required: bool) -> None:
        # A context's verify mode applies to the handshakes that start after it is set.
        self._context.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_NONE

    def start(self) -> TlsProxy:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.setblocking(False)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TLS proxy did not start")
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._listener.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._spawn(self._accept())
        self._ready.set()
        self._loop.run_forever()

    def _spawn(self, work: Coroutine[object, object, None]) -> None:
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self) -> None:
        while True:
            client, _ = await self._loop.sock_accept(self._listener)
            self._spawn(self._serve(client))

    async def _serve(self, client: socket.socket) -> None:
        # The handshake is awaited here, so a refused client is recorded (asyncio.start_server(ssl=...) would
        # only log it, and StreamWriter.start_tls on a server may read the ClientHello as plaintext first).
        client_reader = asyncio.StreamReader()
        protocol = asyncio.StreamReaderProtocol(client_reader)
        try:
            transport, _ = await self._loop.connect_accepted_socket(
                lambda: protocol, client, ssl=self._context, ssl_handshake_timeout=10
            )
        except (ssl.SSLError, OSError, TimeoutError) as exc:
            self.refused.append(f"{type(exc).__name__}: {exc}")
            client.close()
            return
        client_writer = asyncio.StreamWriter(transport, protocol, client_reader, self._loop)
        peer = client_writer.get_extra_info("peercert")
        self.accepted.append(_subject(peer) if peer else None)
        try:
            broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            transport.abort()
            return
        # Either side closing ends the connection: Kafka clients never half-close.
        pipes = [
            asyncio.ensure_future(_pipe(client_reader, broker_writer)),
            asyncio.ensure_future(_pipe(broker_reader, client_writer)),
        ]
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            broker_writer.transport.abort()
            transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass


def _subject(peer: dict) -> str:
    """The certificate's subject as `CN=...,O=...`."""
    return ",".join(f"{key}={value}" for rdn in peer.get("subject", ()) for key, value in rdn)
