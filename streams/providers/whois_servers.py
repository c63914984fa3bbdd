"""Which WHOIS server (RFC 3912, port 43) answers for which TLD.

The table ships in the package (`streams/data/whois-servers.json`, rebuilt and
checked by `scripts/whois_servers.py` from a copy of IANA's root zone
database); `LAPSEWATCH_WHOIS_SERVERS` entries (`parse_whois_servers`) go
ahead of it. Every server is validated here: only a host name or an IP
literal, and a port, ever reaches a socket.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import orjson

SHIPPED = "whois-servers.json"
PORT = 43
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_NAME = 253


@dataclass(frozen=True)
class WhoisTable:
    servers: dict[str, str]  # suffix (a TLD, or longer) → "host" or "host:port"
    none: dict[str, str]  # TLD → why it has no port-43 server we ask
    source: dict
    generated: str


def valid_suffix(text: str) -> str:
    """A TLD (or longer suffix) in lowercase A-label form; ValueError otherwise."""
    suffix = text.strip().lower().strip(".")
    if not suffix or len(suffix) > MAX_NAME or not all(_LABEL.fullmatch(label) for label in suffix.split(".")):
        raise ValueError(f"{text!r} is not a TLD of letters, digits and hyphens")
    return suffix


def valid_server(text: str) -> str:
    """`host`, `host:port` or `[v6]:port`, normalised (lowercase, port 43 dropped); ValueError otherwise."""
    host, port = split_server(text)
    if ":" in host:
        return f"[{host}]" if port == PORT else f"[{host}]:{port}"
    return host if port == PORT else f"{host}:{port}"


def split_server(text: str) -> tuple[str, int]:
    """(host, port) of a server entry; ValueError naming what is wrong."""
    value = text.strip().lower()
    port_text = None
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not [IPv6]:port")
        port_text = rest[1:] if rest else None
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, colon, port_text = value.partition(":")
        if not colon:
            port_text = None
        if not _is_host(host):
            raise ValueError(f"{text!r} is not a host name or IPv4 address (letters, digits, hyphens, dots)")
    port = PORT
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    return host, port


def parse_whois_servers(text: str) -> dict[str, str]:
    """`tld=host[:port],...` (commas or new lines) → {tld: server}; ValueError naming the bad part."""
    servers: dict[str, str] = {}
    for part in re.split(r"[,\n]", text or ""):
        if not part.strip():
            continue
        suffix, equals, server = part.partition("=")
        if not equals:
            raise ValueError(f"expected tld=host[:port], got {part.strip()!r}")
        try:
            servers[valid_suffix(suffix)] = valid_server(server)
        except ValueError as exc:
            raise ValueError(f"in {part.strip()!r}: {exc}") from None
    return servers


def load_whois_table(raw: bytes, origin: str) -> WhoisTable:
    """A whois-servers.json document, every entry validated; ValueError naming the bad one."""
    try:
        document = orjson.loads(raw)
        servers, none = document["servers"], document["none"]
        if not isinstance(servers, dict) or not isinstance(none, dict):
            raise TypeError("servers and none must be objects")
        checked = {valid_suffix(k): valid_server(v) for k, v in servers.items()}
        reasons = {valid_suffix(k): str(v) for k, v in none.items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{origin}: not a WHOIS server table ({exc})") from None
    return WhoisTable(checked, reasons, dict(document.get("source") or {}), str(document.get("generated", "")))


@lru_cache(maxsize=1)
def shipped_whois_table() -> WhoisTable:
    raw = resources.files("streams.data").joinpath(SHIPPED).read_bytes()
    return load_whois_table(raw, SHIPPED)


def shipped_whois_servers() -> dict[str, str]:
    """TLD → WHOIS server ("host" or "host:port") as shipped in the package."""
    return dict(shipped_whois_table().servers)


def shipped_no_whois() -> dict[str, str]:
    """TLD → why no port-43 server is asked for it (web only, retired), as shipped."""
    return dict(shipped_whois_table().none)


def server_for(servers: dict[str, str], domain: str) -> str | None:
    """The server for the longest suffix of `domain` in `servers`."""
    labels = domain.lower().rstrip(".").split(".")
    for start in range(1, len(labels)):
        server = servers.get(".".join(labels[start:]))
        if server is not None:
            return server
    return None


def _is_host(host: str) -> bool:
    if not host or len(host) > MAX_NAME:
        return False
    try:
        ipaddress.IPv4Address(host)
        return True
    except ValueError:
        pass
    return all(_LABEL.fullmatch(label) for label in host.split("."))
