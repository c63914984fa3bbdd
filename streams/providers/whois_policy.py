"""A WHOIS answer (RFC 3912) → a verdict, or a refusal. Pure: no I/O.

The property that matters most: "not found" is only ever read from a
registry's own not-found line, and a refusal (rate limit, block, outage) is
always the server's failure, never "not found". Anything else this module
cannot read is inconclusive, with an excerpt of the answer as evidence,
never a lapse. Lapse rules follow RDAP's (rdap_policy): lapse statuses,
holds after expiry, and an expiry date that passed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from streams.providers.base import ProviderError, Verdict
from streams.providers.httpio import MAX_RETRY_AFTER
from streams.providers.rdap_policy import GRACE as EPP_GRACE
from streams.providers.rdap_policy import HOLD as EPP_HOLD
from streams.providers.rdap_policy import LAPSED as EPP_LAPSED
from streams.providers.rdap_policy import NOT_FOUND_FLAG, normalise_status
from streams.providers.rdap_policy import REGISTERED as EPP_REGISTERED
from streams.providers.whois_dates import read_date
from streams.providers.whois_registries import GRACE, HOLD, LAPSE, REGISTERED, RESERVED, Registry, registry_for

MAX_EXCERPT = 300
MAX_LINES = 5000  # a real answer has a few hundred; the byte cap keeps this far away anyway
MAX_STATUSES = 32  # a real record has a handful: more is noise, and costs time

# Refusals any server may send, matched at the start of a line once its comment marks and
# error codes are stripped ("% Error: 55000000002 ...", "-3: ...", "# ...").
_LEAD = re.compile(r"^(?:[%#*>\s]+|-?\d+:\s*|error:?\s*\d*[:\s]*|query_status:\s*)+", re.IGNORECASE)
REFUSALS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?:the |your )?(?:whois )?(?:query|queries|request|requests|lookup|look up|connection|connections|access)"
        r"(?: control)? (?:rate|quota|limit)\b.*\b(?:exceeded|reached)",
        r"maximum (?:number of )?(?:queries|requests|connections|lookups)\b.*\breached",
        r"(?:you have |you've )?exceeded\b.*\b(?:limit|quota|rate)\b",
        r"(?:whois |rate )?limit (?:exceeded|reached)",
        r"rate limited\b",
        r"too many (?:connections|requests|queries|lookups|connection attempts)\b",
        r"excessive querying\b",
        r"(?:your )?ip(?: address)? (?:has been |is )?(?:blocked|banned|blacklisted|denied)\b",
        r"access (?:denied|refused|blocked)\b",
        r"connection refused\b",
        r"(?:please )?try (?:again )?later\b",
        r"still in grace period,? wait\b",
        r"(?:the )?(?:whois )?service (?:is )?(?:temporarily )?unavailable\b",
        r"4\d\d request denied\b",
        r"query limitation\b",
        r"internal (?:system |server )?error\b",
    )
)
_WAIT = re.compile(r"\b(?:wait|in|after)\s+(\d{1,9})\s*(seconds?|secs?|s|minutes?|mins?|hours?)\b", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600}

# A registry naming another server for this name (a thin registry's registrar, IANA's referral).
_REFERRAL = re.compile(
    r"^[ \t]*(?:Registrar WHOIS Server|ReferralServer|refer|whois)[ \t]*:[ \t]*"
    r"(?:r?whois://)?([A-Za-z0-9.-]+?)\.?(?::\d+)?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_HOST = re.compile(r"(?=.{1,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?!-)[a-z0-9-]{1,63}(?<!-)")
_ICANN_LINK = re.compile(r"\s*\(?https?://\S*\)?$")
_COMMENT = re.compile(r"^(?:[%#]|>>>|\[ )")

# RDAP's statuses, as a WHOIS registry writes them in EPP form.
_EPP: dict[str, tuple[str, str]] = {
    **{status: (LAPSE, meaning) for status, meaning in EPP_LAPSED.items()},
    **{status: (HOLD, meaning) for status, meaning in EPP_HOLD.items()},
    **{status: (GRACE, meaning) for status, meaning in EPP_GRACE.items()},
    **{status: (REGISTERED, "registered") for status in EPP_REGISTERED},
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What one WHOIS answer says about one domain, before the time decides."""

    server: str
    domain: str
    registry: str  # who answered, by the table's name for it
    kind: str  # "not found", "reserved", "record" or "contradictory"
    statuses: tuple[str, ...] = ()  # as the registry wrote them
    meanings: tuple[tuple[str, str] | None, ...] = ()  # (kind, meaning) per status; None = unknown
    names: tuple[str, ...] = ()  # the domain names the record gives
    expires_at: float | None = None
    registered_at: float | None = None
    statusless: bool = False
    referral: str | None = None  # a server host named for this domain
    excerpt: str = ""

    @property
    def unknown(self) -> list[str]:
        # Only a record's statuses have meanings; a contradictory or reserved answer's have none to report.
        return sorted({s for s, m in zip(self.statuses, self.meanings, strict=False) if m is None})


def query_line(server: str, domain: str) -> bytes:
    """The query to send, with the registry's prefix or suffix, ending in CRLF."""
    line = registry_for(_host(server), domain).query.format(domain)
    if any(ch in line for ch in "\r\n\x00"):  # only reachable with a bad table row; never sent
        raise ProviderError(f"refusing to send a query with a line break for {domain!r}")
    return line.encode("ascii") + b"\r\n"


def decode_answer(raw: bytes, server: str, domain: str) -> str:
    """UTF-8, else the registry's codepage; never raises (a bad byte becomes U+FFFD)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(registry_for(_host(server), domain).codepage, errors="replace")


def classify_whois(text: str, server: str, domain: str, now: float) -> Verdict:
    """The verdict on `domain` from `server`'s answer `text` at time `now`; ProviderError for a refusal."""
    return decide(read_answer(text, server, domain), now)


def read_answer(text: str, server: str, domain: str) -> Answer:
    """Read an answer with its registry's table; a refusal raises ProviderError (server-wide)."""
    registry = registry_for(_host(server), domain)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.strip() for line in text.split("\n", MAX_LINES)[:MAX_LINES]]
    _raise_on_refusal(text, lines, registry, server, domain)
    raw_lines = text.split("\n", MAX_LINES)[:MAX_LINES]  # indentation kept: it marks a contact block
    answer = partial(
        Answer,
        server=server,
        domain=domain,
        registry=registry.name,
        excerpt=_excerpt(raw_lines),
        statusless=registry.statusless,
        referral=_referral(text),
    )
    statuses = _statuses(text, registry)
    expires_at = _first_date(text, registry.expiry, registry)
    registered_at = _first_date(text, registry.created, registry)
    missing = _any_line(lines, registry.not_found, domain)
    if missing is not None:
        # A not-found line beside a record's facts is something we do not understand: never a lapse.
        facts = [s for s in statuses if s.lower() not in missing.lower()]
        if facts or expires_at is not None:
            return answer(kind="contradictory", statuses=tuple(facts))
        return answer(kind="not found")
    reserved = _any_line(lines, registry.reserved, domain)
    if reserved:
        return answer(kind="reserved", statuses=(reserved,))
    names = tuple(match.group(1) for pattern in registry.names for match in pattern.finditer(text))
    return answer(
        kind="record",
        statuses=statuses,
        meanings=tuple(_meaning(status, registry) for status in statuses),
        names=names,
        expires_at=expires_at,
        registered_at=registered_at,
    )


def decide(answer: Answer, now: float) -> Verdict:
    """The verdict at time `now`, by RDAP's rules (rdap_policy.classify_rdap) on the registry's words."""
    server, domain = answer.server, answer.domain
    if answer.kind == "not found":
        return Verdict(
            "lapsed",
            (NOT_FOUND_FLAG,),
            f"the registry has no such domain ({answer.registry}'s whois server {server} says it is not registered)",
        )
    if answer.kind == "contradictory":
        return _inconclusive(
            answer, f"the answer from {server} says {domain} is not registered, yet gives a record's facts"
        )
    if answer.kind == "reserved":
        return _inconclusive(answer, f"reserved: {answer.registry} says nobody can register it")
    if not answer.names:
        return _inconclusive(answer, f"the answer from {server} holds no record of {domain}")
    if not any(_same_name(name, domain) for name in answer.names):
        return _inconclusive(answer, f"the answer from {server} is about {answer.names[0]!r}, not {domain}")

    def verdict(kind: str, detail: str, *, grace: bool = False) -> Verdict:
        return Verdict(kind, answer.statuses, detail, answer.registered_at, answer.expires_at, grace)

    said = list(zip(answer.statuses, answer.meanings, strict=True))  # a record: one meaning per status
    lapsed = [f"{s}: {m[1]}" for s, m in said if m and m[0] == LAPSE]
    if lapsed:
        return verdict("lapsed", "; ".join(lapsed), grace=True)
    reserved = [f"{s}: {m[1]}" for s, m in said if m and m[0] == RESERVED]
    if reserved:
        return _inconclusive(answer, "; ".join(reserved))
    if answer.unknown:
        return _inconclusive(answer, f"unrecognised statuses from {answer.registry}: " + ", ".join(answer.unknown))
    expired = answer.expires_at is not None and answer.expires_at <= now
    held = [f"{s}: {m[1]}" for s, m in said if m and m[0] == HOLD]
    in_grace = any(m and m[0] == GRACE for _, m in said)
    if held and (expired or in_grace):
        why = "expired and " if expired else "in grace after expiry and "
        return verdict("lapsed", why + "; ".join(held), grace=True)
    if expired:
        return verdict(
            "lapsed", f"the registration expired on {_day(answer.expires_at)} and was not renewed", grace=True
        )
    if not answer.statuses and not answer.statusless:
        return _inconclusive(answer, f"the answer from {server} has no status for {domain}")
    if held:
        return verdict("active", "registered and not expired; " + "; ".join(held))
    if in_grace:
        return verdict("active", "registered; in the grace period after expiry", grace=True)
    if not answer.statuses:
        return verdict("active", f"registered ({answer.registry} publishes no status on port 43)")
    notes = [f"{s}: {m[1]}" for s, m in said if m and m[1] != "registered"]
    return verdict("active", "; ".join(["registered", *notes]))


def referral_target(answer: Answer, known: dict[str, str]) -> str | None:
    """The known server (host[:port] as in the table) the answer refers to, never the one that answered."""
    if answer.referral is None:
        return None
    target = known.get(answer.referral)
    return target if target is not None and target != answer.server else None


def _raise_on_refusal(text: str, lines: list[str], registry: Registry, server: str, domain: str) -> None:
    for line in lines:
        core = _LEAD.sub("", line)
        if any(p.match(core) for p in REFUSALS) or any(p.fullmatch(line) for p in registry.refused):
            raise ProviderError(
                f"whois server {server} refused the query for {domain}: {line[:120]!r}",
                retry_after=_retry_after(text),
                server_wide=True,
            )


def _retry_after(text: str) -> float | None:
    match = _WAIT.search(text)
    if match is None:
        return None
    return min(float(match.group(1)) * _UNITS[match.group(2)[0].lower()], MAX_RETRY_AFTER)


def _any_line(lines: list[str], patterns: tuple[re.Pattern[str], ...], domain: str) -> str | None:
    """The first line one of `patterns` matches whole; a `name` group in it must be `domain`."""
    for line in lines:
        for pattern in patterns:
            match = pattern.fullmatch(line)
            if match and ("name" not in pattern.groupindex or _same_name(match.group("name"), domain)):
                return line
    return None


def _statuses(text: str, registry: Registry) -> tuple[str, ...]:
    found: dict[str, None] = {}  # ordered, without repeats
    for pattern in registry.statuses:
        for match in pattern.finditer(text):
            parts = registry.status_split.split(match.group(1)) if registry.status_split else [match.group(1)]
            for part in parts:
                value = _ICANN_LINK.sub("", part.strip(" \t*")).strip()
                if value:
                    found[value] = None
                if len(found) >= MAX_STATUSES:
                    return tuple(found)
    return tuple(found)


def _meaning(status: str, registry: Registry) -> tuple[str, str] | None:
    key = normalise_status(status.replace(".", " ").replace("*", " "))
    return registry.states.get(key) or _EPP.get(key)


def _first_date(text: str, patterns: tuple[re.Pattern[str], ...], registry: Registry) -> float | None:
    for pattern in patterns:
        for match in pattern.finditer(text):
            moment = read_date(match.group(1), registry.dates, registry.utc_offset)
            if moment is not None:
                return moment
    return None


def _referral(text: str) -> str | None:
    for match in _REFERRAL.finditer(text):
        host = match.group(1).lower()
        if _HOST.fullmatch(host):
            return host
    return None


def _same_name(value: str, domain: str) -> bool:
    value = value.strip().strip('"').rstrip(".").lower()
    if value == domain:
        return True
    try:
        return not value.isascii() and value.encode("idna").decode("ascii") == domain
    except UnicodeError:
        return False


# Labels of people's data: an excerpt travels in events and logs, so it carries none of it.
_PERSONAL = re.compile(
    r"name|mail|phone|fax|address|street|city|postal|zip|organi[sz]ation|registrant|holder|"
    r"contact|person|owner|admin|tech|billing|country|province",
    re.IGNORECASE,
)
_NOT_PERSONAL = re.compile(r"domain|server|registrar|dns", re.IGNORECASE)
_LABEL = re.compile(r"^\[?\s*([^:\]]{1,60})[:\]]")


def _personal(line: str) -> bool:
    """An indented line (a contact block's continuation), an address, or a line labelled as a person's data."""
    if line[:1].isspace() or "@" in line:
        return True
    label = _LABEL.match(line)
    return bool(label and _PERSONAL.search(label[1]) and not _NOT_PERSONAL.search(label[1]))


def _excerpt(lines: list[str]) -> str:
    """The answer's first lines of substance (no legal notices, nobody's contact data), as evidence
    for an unreadable answer."""
    kept = [line.strip() for line in lines if line.strip() and not _COMMENT.match(line.strip()) and not _personal(line)]
    # Evidence goes into logs and events: no control characters.
    text = "".join(ch if ch.isprintable() else "?" for ch in " | ".join(kept)[: MAX_EXCERPT + 1])
    return text if len(text) <= MAX_EXCERPT else text[: MAX_EXCERPT - 1] + "…"


def _inconclusive(answer: Answer, why: str) -> Verdict:
    return Verdict(
        "inconclusive",
        answer.statuses,
        f"{why}; the answer began: {answer.excerpt!r}",
        answer.registered_at,
        answer.expires_at,
    )


def _host(server: str) -> str:
    if server.startswith("["):
        return server[1:].partition("]")[0]
    return server.rsplit(":", 1)[0] if server.count(":") == 1 else server


def _day(moment: float | None) -> str:
    return "?" if moment is None else datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")
