"""Email address normalisation: the identity of an address and the domain to check.

Pure functions, no I/O. The registrable domain comes from the ICANN section of
the Public Suffix List: private suffixes (github.io, blogspot.com) are not
registries, so `x@me.github.io` is checked as `github.io`, the domain a
registrar would actually let lapse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import idna
from publicsuffixlist import PublicSuffixList

_PSL = PublicSuffixList(only_icann=True, accept_unknown=False)
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_BAD_LOCAL = re.compile(r"[\x00-\x20\x7f]")

MAX_ADDRESS = 320
MAX_LOCAL = 64
MAX_HOST = 253


class InvalidAddress(ValueError):
    """The text is not an address lapsewatch can check; the message says why."""


@dataclass(frozen=True, slots=True)
class Address:
    original: str  # as the account service sent it
    key: str  # identity: lowercase local part @ punycode host
    host: str  # punycode, lowercase, no trailing dot
    domain: str  # registrable domain of host


def ascii_host(host: str) -> str:
    """Lowercase punycode form of a host name, validated label by label."""
    host = host.strip().rstrip(".")
    if not host:
        raise InvalidAddress("the domain is empty")
    if host.startswith("["):
        raise InvalidAddress("address literals have no domain to check")
    try:
        encoded = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidAddress(f"the domain is not a valid internationalised name ({exc})") from None
    encoded = encoded.lower()
    if len(encoded) > MAX_HOST:
        raise InvalidAddress(f"the domain is longer than {MAX_HOST} characters")
    labels = encoded.split(".")
    if len(labels) < 2:
        raise InvalidAddress("the domain has no top-level domain")
    for label in labels:
        if not _LABEL.match(label):
            raise InvalidAddress(f"the domain label {label!r} is not a valid host name label")
    if labels[-1].isdigit():
        raise InvalidAddress("the domain is an IP address")
    return encoded


def registrable_domain(host: str) -> str:
    """The domain a registrant holds (`mail.corp.co.uk` → `corp.co.uk`)."""
    domain = _PSL.privatesuffix(host)
    if domain is None:
        if _PSL.is_public(host):
            raise InvalidAddress(f"{host!r} is a public suffix, not a registrable domain")
        raise InvalidAddress(f"{host!r} is not under a known top-level domain")
    return domain


def normalize_address(text: object) -> Address:
    if not isinstance(text, str):
        raise InvalidAddress(f"expected the address as a string, got {type(text).__name__}")
    original = text
    text = text.strip()
    if not text:
        raise InvalidAddress("the address is empty")
    if len(text) > MAX_ADDRESS:
        raise InvalidAddress(f"the address is longer than {MAX_ADDRESS} characters")
    local, at, host = text.rpartition("@")
    if not at or not local:
        raise InvalidAddress("the address has no local part and domain separated by '@'")
    if len(local) > MAX_LOCAL:
        raise InvalidAddress(f"the local part is longer than {MAX_LOCAL} characters")
    if _BAD_LOCAL.search(local) and not (local.startswith('"') and local.endswith('"')):
        raise InvalidAddress("the local part contains spaces or control characters")
    host, domain = _host_and_domain(host)
    return Address(original=original, key=f"{local.lower()}@{host}", host=host, domain=domain)


@lru_cache(maxsize=1 << 16)
def _host_and_domain(text: str) -> tuple[str, str]:
    """IDNA and the Public Suffix List are the slow part, and hosts repeat: remembered (errors are not)."""
    host = ascii_host(text)
    return host, registrable_domain(host)


def _load_shipped_public_domains() -> frozenset[str]:
    text = resources.files("streams.data").joinpath("public_mailbox_domains.txt").read_text()
    names = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(name for name in names if name)


SHIPPED_PUBLIC_DOMAINS = _load_shipped_public_domains()


class PublicMailboxes:
    """Registrable domains of public mailbox providers: never checked, no state kept."""

    def __init__(self, extra: frozenset[str] = frozenset()):
        normalised = set()
        for name in extra:
            normalised.add(registrable_domain(ascii_host(name)) if "." in name else name)
        self.domains = SHIPPED_PUBLIC_DOMAINS | frozenset(normalised)

    def __contains__(self, domain: str) -> bool:
        return domain in self.domains
