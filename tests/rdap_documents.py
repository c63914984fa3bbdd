"""RDAP documents for the tests: RFC 9083 domain objects, error objects and
IANA bootstrap files, in the shapes registries actually answer with.

    domain_object("shop.test", ["active"], "2015-04-01T00:00:00Z", "2030-04-01T00:00:00Z")
    domain_object("shop.com", ["active"], None, None, related="https://rdap.registrar.example/domain/shop.com")
    as_name(REDEMPTION_PERIOD, "my-unique-name.test")    # an example document, about another name

A thick registry answers with everything (statuses, dates, registrar, often
the registrant). A thin registry (Verisign for .com and .net) answers with the
registry's statuses and a "related" link to the registrar's own RDAP server,
which holds the registrant and sometimes the only reliable dates.

The example documents' dates are relative to the moment this module was
imported (so a "recent" registration stays recent): see `iso()`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterable

RDAP_CONTENT_TYPE = "application/rdap+json"
NOW = int(time.time())
DAY = 86400

TERMS_NOTICE = {
    "title": "Terms of Use",
    "description": ["Service subject to the test registry's terms of use."],
    "links": [
        {
            "value": "https://rdap.registry.example/help",
            "rel": "alternate",
            "href": "https://registry.example/terms",
            "type": "text/html",
        }
    ],
}
STATUS_CODES_NOTICE = {
    "title": "Status Codes",
    "description": ["For more information on domain status codes, please visit https://icann.org/epp"],
    "links": [
        {
            "value": "https://rdap.registry.example/help",
            "rel": "glossary",
            "href": "https://icann.org/epp",
            "type": "text/html",
        }
    ],
}
INACCURACY_NOTICE = {
    "title": "RDDS Inaccuracy Complaint Form",
    "description": ["URL of the ICANN RDDS Inaccuracy Complaint Form: https://icann.org/wicf"],
    "links": [
        {
            "value": "https://rdap.registry.example/help",
            "rel": "help",
            "href": "https://icann.org/wicf",
            "type": "text/html",
        }
    ],
}


def iso(days_from_now: float = 0.0, *, at: float | None = None) -> str:
    """An ISO 8601 UTC date ("2025-01-02T03:04:05Z") `days_from_now` days from NOW (or from `at`)."""
    base = NOW if at is None else at
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + days_from_now * DAY))


def _handle(name: str, suffix: str) -> str:
    return f"{name.upper().replace('.', '_')}-{suffix}"


def nameserver_object(host: str) -> dict:
    """An RFC 9083 §5.2 nameserver object, as embedded in a domain object."""
    return {
        "objectClassName": "nameserver",
        "ldhName": host,
        "status": ["active"],
        "handle": _handle(host, "NS"),
        "links": [
            {
                "value": f"https://rdap.registry.example/nameserver/{host}",
                "rel": "self",
                "href": f"https://rdap.registry.example/nameserver/{host}",
                "type": RDAP_CONTENT_TYPE,
            }
        ],
    }


def registrar_entity(name: str = "Example Registrar, Inc.", iana_id: str = "9999") -> dict:
    """The registrar entity a registry lists (ICANN gTLD profile: IANA Registrar ID as a publicId)."""
    return {
        "objectClassName": "entity",
        "handle": iana_id,
        "roles": ["registrar"],
        "publicIds": [{"type": "IANA Registrar ID", "identifier": iana_id}],
        "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name]]],
        "entities": [
            {
                "objectClassName": "entity",
                "roles": ["abuse"],
                "vcardArray": [
                    "vcard",
                    [
                        ["version", {}, "text", "4.0"],
                        ["fn", {}, "text", "Abuse contact"],
                        ["email", {}, "text", "abuse@registrar.example"],
                    ],
                ],
            }
        ],
    }


def registrant_entity(name: str = "Domain Holder", org: str = "Example Holder Ltd") -> dict:
    """A registrant entity, as a thick registry or a registrar answers (often redacted in real life)."""
    return {
        "objectClassName": "entity",
        "handle": "REG-0001",
        "roles": ["registrant"],
        "vcardArray": [
            "vcard",
            [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", name],
                ["org", {}, "text", org],
                ["adr", {"cc": "DE"}, "text", ["", "", "", "", "", "", "DE"]],
            ],
        ],
        "remarks": [
            {
                "title": "REDACTED FOR PRIVACY",
                "type": "object redacted due to authorization",
                "description": ["Some of the data in this object has been removed."],
            }
        ],
    }


def domain_object(
    name: str,
    statuses: list[str],
    registered: str | None,
    expires: str | None,
    last_changed: str | None = None,
    nameservers: Iterable[str] = ("ns1.example.net", "ns2.example.net"),
    related: str | None = None,
) -> dict:
    """An RFC 9083 §5.3 domain object as a registry returns it for `GET /domain/<name>`.

    Statuses are passed through as given (RFC 8056 forms like "client hold", or
    anything else to test unknown ones). A None date leaves its event out, as a
    thin registry may. `related` adds the link a thin registry gives to the
    registrar's RDAP server (rel "related", type application/rdap+json).
    """
    events = []
    if registered is not None:
        events.append({"eventAction": "registration", "eventDate": registered})
    if expires is not None:
        events.append({"eventAction": "expiration", "eventDate": expires})
    if last_changed is not None:
        events.append({"eventAction": "last changed", "eventDate": last_changed})
    events.append({"eventAction": "last update of RDAP database", "eventDate": iso()})
    self_url = f"https://rdap.registry.example/domain/{name}"
    links = [{"value": self_url, "rel": "self", "href": self_url, "type": RDAP_CONTENT_TYPE}]
    if related is not None:
        links.append({"value": related, "rel": "related", "href": related, "type": RDAP_CONTENT_TYPE})
    return {
        "objectClassName": "domain",
        "handle": _handle(name, "EXAMPLE"),
        "ldhName": name,
        "links": links,
        "status": list(statuses),
        "entities": [registrar_entity()],
        "events": events,
        "secureDNS": {"delegationSigned": False},
        "nameservers": [nameserver_object(host) for host in nameservers],
        "rdapConformance": [
            "rdap_level_0",
            "icann_rdap_technical_implementation_guide_0",
            "icann_rdap_response_profile_0",
        ],
        "notices": [copy.deepcopy(TERMS_NOTICE), copy.deepcopy(STATUS_CODES_NOTICE), copy.deepcopy(INACCURACY_NOTICE)],
    }


def with_registrant(document: dict, **registrant: str) -> dict:
    """A copy of `document` that also names the registrant (what a thick answer carries)."""
    document = copy.deepcopy(document)
    document["entities"].append(registrant_entity(**registrant))
    return document


def as_name(document: dict, name: str) -> dict:
    """A deep copy of a domain object about `name` instead (ldhName, handle, self link)."""
    document = copy.deepcopy(document)
    old = document.get("ldhName")
    document["ldhName"] = name
    document["handle"] = _handle(name, "EXAMPLE")
    for link in document.get("links", []):
        if link.get("rel") == "self" and old:
            for key in ("value", "href"):
                link[key] = link[key].replace(old, name)
        elif link.get("rel") == "related" and old:
            link["href"] = link["href"].replace(old, name)
            link["value"] = link["value"].replace(old, name)
    return document


def error_object(code: int, title: str, description: str | list[str] | None = None) -> dict:
    """An RFC 9083 §6 error response body."""
    if description is None:
        description = []
    elif isinstance(description, str):
        description = [description]
    return {"errorCode": code, "title": title, "description": list(description), "rdapConformance": ["rdap_level_0"]}


def dns_bootstrap(services: dict[str, str | list[str]], publication: str | None = None) -> dict:
    """An IANA RDAP bootstrap file for DNS (RFC 9224): {"com": "https://.../"} → its document."""
    return {
        "version": "1.0",
        "publication": publication or iso(),
        "description": "RDAP bootstrap file for Domain Name System registrations (tests)",
        "services": [[[tld], [urls] if isinstance(urls, str) else list(urls)] for tld, urls in services.items()],
    }


# --- Example answers ---------------------------------------------------------

# A thick registry, everything in one answer (like RFC 9083's domain example).
THICK_ACTIVE = with_registrant(
    domain_object(
        "thick-active.example",
        ["active", "client transfer prohibited"],
        registered=iso(-3650),
        expires=iso(300),
        last_changed=iso(-65),
    )
)

# Verisign-style thin answer for .com: registry statuses and dates, no registrant,
# and a link to the registrar's RDAP server for the rest.
THIN_ACTIVE_WITH_REGISTRAR_LINK = domain_object(
    "thin-active.example",
    ["client delete prohibited", "client transfer prohibited"],
    registered=iso(-2900),
    expires=iso(120),
    last_changed=iso(-245),
    related="https://rdap.registrar.example/domain/thin-active.example",
)

# The registrar deleted it: RFC 3915 redemption grace period, shown as both statuses.
REDEMPTION_PERIOD = domain_object(
    "in-redemption.example",
    ["pending delete", "redemption period"],
    registered=iso(-1500),
    expires=iso(-38),
    last_changed=iso(-3),
)

# The last five days before the name is released.
PENDING_DELETE = domain_object(
    "pending-delete.example", ["pending delete"], registered=iso(-1500), expires=iso(-75), last_changed=iso(-31)
)

# Expired and put on hold by the registrar (ccTLD style: no automatic renewal).
CLIENT_HOLD_AFTER_EXPIRY = domain_object(
    "held-after-expiry.example",
    ["client hold", "client transfer prohibited"],
    registered=iso(-800),
    expires=iso(-20),
    last_changed=iso(-19),
)

# Suspended by the registry (abuse, court order) but paid for: not a lapse.
SERVER_HOLD_NOT_EXPIRED = domain_object(
    "server-held.example",
    ["server hold", "server transfer prohibited", "server update prohibited"],
    registered=iso(-1200),
    expires=iso(400),
    last_changed=iso(-12),
)

# gTLD registries renew at expiry: the expiration date has moved a year ahead and the
# registrar has 45 days to delete it (then it goes to redemption) or keep it.
AUTO_RENEW_GRACE = domain_object(
    "auto-renewed.example",
    ["auto renew period", "client transfer prohibited"],
    registered=iso(-1100),
    expires=iso(355),
    last_changed=iso(-10),
)

# Dropped and registered again a few days ago, by someone else: the resurrection case.
REREGISTERED = with_registrant(
    domain_object(
        "reregistered.example",
        ["add period", "client transfer prohibited"],
        registered=iso(-3),
        expires=iso(362),
        last_changed=iso(-3),
    ),
    name="REDACTED FOR PRIVACY",
    org="New Holder",
)

EXAMPLES = {
    "THICK_ACTIVE": THICK_ACTIVE,
    "THIN_ACTIVE_WITH_REGISTRAR_LINK": THIN_ACTIVE_WITH_REGISTRAR_LINK,
    "REDEMPTION_PERIOD": REDEMPTION_PERIOD,
    "PENDING_DELETE": PENDING_DELETE,
    "CLIENT_HOLD_AFTER_EXPIRY": CLIENT_HOLD_AFTER_EXPIRY,
    "SERVER_HOLD_NOT_EXPIRED": SERVER_HOLD_NOT_EXPIRED,
    "AUTO_RENEW_GRACE": AUTO_RENEW_GRACE,
    "REREGISTERED": REREGISTERED,
}
