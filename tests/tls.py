"""One test certificate authority for the whole test session (trustme).

    ca = certificate_authority()
    ca.ca_pem_path                  # str: the CA certificate (PEM), for SSL_CERT_FILE,
                                    # LAPSEWATCH_CA_BUNDLE or httpx's verify=
    ca.server_ssl_context()         # ssl.SSLContext serving a cert for 127.0.0.1 and localhost
    ca.client_ssl_context()         # ssl.SSLContext trusting only this CA

The CA and the server certificate are made once per process; the CA file is
written once to a temporary directory that is removed when the process exits.
Worker subprocesses started by the tests read the same file through its path.
"""

from __future__ import annotations

import atexit
import shutil
import ssl
import tempfile
import threading
from pathlib import Path

import trustme

SERVER_NAMES = ("127.0.0.1", "localhost")


class CertificateAuthority:
    """A trustme CA, its PEM file on disk and one server certificate it issued."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self) -> None:
        self._ca = trustme.CA(organization_name="lapsewatch tests", organization_unit_name="test CA")
        self._server_cert = self._ca.issue_cert(*SERVER_NAMES)
        self._dir = Path(tempfile.mkdtemp(prefix="lapsewatch-test-ca-"))
        atexit.register(shutil.rmtree, self._dir, ignore_errors=True)
        path = self._dir / "ca.pem"
        self._ca.cert_pem.write_to_path(str(path))
        # A str, not a Path: httpx takes verify=<str> (and a Path would be taken for an SSLContext).
        self.ca_pem_path: str = str(path)

    @property
    def ca(self) -> trustme.CA:
        return self._ca

    def server_ssl_context(self) -> ssl.SSLContext:
        """A fresh server-side context presenting the certificate for 127.0.0.1 and localhost."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_cert.configure_cert(context)
        return context

    def client_ssl_context(self) -> ssl.SSLContext:
        """A fresh client-side context that trusts this CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca_pem_path)


_lock = threading.Lock()
_instance: CertificateAuthority | None = None


def certificate_authority() -> CertificateAuthority:
    """The session's CA, made on first use."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = CertificateAuthority()
        return _instance
