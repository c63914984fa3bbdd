"""The only gate through which a domain name reaches a URL or a DNS query.

Addresses come from events anyone may have typed; normalisation already made
them registrable punycode, and this check makes that a guarantee at the point
of use: letters, digits and hyphens in dot-separated labels, within the DNS
length limits, so no name can add a path, query, fragment, userinfo or host.
"""

from __future__ import annotations

import re

from streams.providers.base import ProviderError

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
MAX_NAME = 253


def safe_hostname(domain: str) -> str:
    """`domain` if it is a lowercase LDH hostname of two or more labels; else ProviderError."""
    if not isinstance(domain, str) or not domain or len(domain) > MAX_NAME or not domain.isascii():
        raise ProviderError(f"refusing to query {domain!r}: not an ASCII hostname within {MAX_NAME} characters")
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ProviderError(f"refusing to query {domain!r}: not a hostname of letters, digits and hyphens")
    return domain
