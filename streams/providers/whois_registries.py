"""How each registry's WHOIS server (RFC 3912) writes its answers: one table row per registry. Pure data.

A row is found by the server's host name, else by the TLD (a mirror or a
test server of that registry), else the generic row for ICANN's common format.

- `not_found` and `reserved` match a whole line (stripped, any case); a
  `(?P<name>...)` group in them must be the domain asked about.
- `names`, `statuses`, `expiry` and `created` are searched line by line
  (`^` is a line start); group 1 is the value. They use `[ \t]`, never `\\s`,
  so an empty field can never take the next line's value.
- `states` are the registry's own status words, by their normalised form
  (`normalise_status`), with the registry's published meaning. EPP and RDAP
  statuses (`clientHold`, `pendingDelete`, `ok`...) need no row: they mean
  what they mean in RDAP.
- `statusless`: the registry publishes no status, so a record that names the
  domain is a registration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from streams.providers.whois_dates import DBY_DASH, DMY_DOT, ISO, YBD_DASH, YMD_DOT, YMD_SLASH, DateFormat

# What a status word says about the registration.
LAPSE = "lapse"  # ending: the name is, or soon will be, free for anyone
HOLD = "hold"  # registered but not served: a lapse only once it has expired
GRACE = "grace"  # in a grace period after expiry, still the registrant's
REGISTERED = "registered"
RESERVED = "reserved"  # nobody holds it and nobody can register it


def _line(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _field(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.MULTILINE)


def _value(label: str) -> re.Pattern[str]:
    """`Label: value` at a line start (any spacing, dots as in `expires.....:`)."""
    return _field(r"^[ \t]*" + label + r"[ \t.]*:[ \t]*(\S[^\n]*?)[ \t]*$")


ICANN_NAME = (_value("Domain Name"),)
ICANN_STATUS = (_value("Domain Status"),)
ICANN_EXPIRY = (_value("Registry Expiry Date"),)  # never the registrar's own date
ICANN_CREATED = (_value("Creation Date"),)


@dataclass(frozen=True)
class Registry:
    name: str
    hosts: tuple[str, ...] = ()
    tlds: tuple[str, ...] = ()
    not_found: tuple[re.Pattern[str], ...] = ()
    reserved: tuple[re.Pattern[str], ...] = ()
    refused: tuple[re.Pattern[str], ...] = ()  # besides the refusals every server may send
    names: tuple[re.Pattern[str], ...] = ICANN_NAME
    statuses: tuple[re.Pattern[str], ...] = ICANN_STATUS
    status_split: re.Pattern[str] | None = None  # one line holding several statuses
    states: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    expiry: tuple[re.Pattern[str], ...] = ICANN_EXPIRY
    created: tuple[re.Pattern[str], ...] = ICANN_CREATED
    dates: tuple[DateFormat, ...] = (ISO,)
    utc_offset: float = 0.0  # hours: the zone of dates that name none
    statusless: bool = False
    query: str = "{}"  # the query line, before CRLF
    codepage: str = "latin-1"  # for answers that are not UTF-8

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", MappingProxyType(dict(self.states)))


GENERIC = Registry(
    "a registry in ICANN's common format",
    not_found=(
        _line(r'No match for "?(?P<name>[^"\s]+?)"?\.?'),
        _line(r"(?:Domain )?not found\.?"),
        _line(r"No Data Found\.?"),
        _line(r"No entries found(?: for the selected source(?:\(s\))?)?\.?"),
        _line(r"No matching record\.?"),
        _line(r"The queried object does not exist\b.*"),
        _line(r"(?:Domain Status:[ \t]*)?No Object Found\.?"),
        _line(r"Domain (?P<name>\S+) (?:is )?not (?:found|registered)\.?"),
    ),
)

REGISTRIES: tuple[Registry, ...] = (
    Registry(
        "DENIC",
        hosts=("whois.denic.de",),
        tlds=("de",),
        not_found=(_line(r"Status:[ \t]*free"),),
        names=(_value("Domain"),),
        statuses=(_value("Status"),),
        # DENIC's documented statuses. `failed` is registered to its holder but not in the DNS
        # (its nameservers failed DENIC's check): the registration stands, like RDAP's `inactive`.
        # DENIC publishes no expiry: a .de name is renewed until it is cancelled.
        states={
            "connect": (REGISTERED, "registered and in the DNS"),
            "failed": (REGISTERED, "registered, but not in the DNS: its nameservers failed DENIC's check"),
            "redemption period": (LAPSE, "deleted; in DENIC's redemption grace period, then free"),
            "invalid": (RESERVED, "not a name DENIC registers"),
        },
        expiry=(),
        created=(),
        query="-T dn,ace {}",
        utc_offset=1.0,
    ),
    Registry(
        "Registro .it",
        hosts=("whois.nic.it",),
        tlds=("it",),
        not_found=(_line(r"Status:[ \t]*AVAILABLE"),),
        names=(_field(r"^Domain:[ \t]*(\S+)"),),
        statuses=(_field(r"^Status:[ \t]*(\S[^\n]*?)[ \t]*$"),),
        status_split=re.compile(r"\s*[/,]\s*"),
        # The registry's list of .it statuses ("Reading and understanding the status of a domain").
        states={
            "dns hold": (HOLD, "registered; waiting for its nameservers to pass the registry's DNS check"),
            "no registrar": (HOLD, "its registrar's contract ended: after expiry only its registrant can move it"),
            "no provider": (HOLD, "its registrar's contract ended: after expiry only its registrant can move it"),
            "not renewed": (HOLD, "expired and not renewed: its registrar's credit ran out"),
            "redemption no provider": (LAPSE, "deleted after expiry without a registrar; restorable, then free"),
            "revoked": (LAPSE, "revoked by the registry: taken from its registrant"),
            "to be reassigned": (LAPSE, "an opposition succeeded: the name goes to the opposing party"),
            "deleted": (LAPSE, "deleted by the registry"),
            "challenged": (REGISTERED, "under an opposition; still its registrant's"),
            "reserved": (RESERVED, "reserved by the registry"),
            "unassignable": (RESERVED, "a name the registry does not assign"),
            "geographic": (RESERVED, "a geographic name reserved for its authority"),
        },
        # Contacts have their own indented "Created:": only the domain's starts the line.
        expiry=(_field(r"^Expire Date:[ \t]*(\S[^\n]*?)[ \t]*$"),),
        created=(_field(r"^Created:[ \t]*(\S[^\n]*?)[ \t]*$"),),
        utc_offset=1.0,
    ),
    Registry(
        "EURid",
        hosts=("whois.eu",),
        tlds=("eu", "xn--e1a4c", "xn--qxa6a"),
        not_found=(_line(r"Status:[ \t]*AVAILABLE"),),
        names=(_field(r"^Domain:[ \t]*(\S+)"),),
        statuses=(_value("Status"),),
        # Port 43 shows a registered name without a status; deleted names wait 40 days in quarantine.
        states={
            "not available": (REGISTERED, "registered"),
            "quarantine": (LAPSE, "deleted: 40 days in quarantine, then free"),
            "in quarantine": (LAPSE, "deleted: 40 days in quarantine, then free"),
            "withdrawn": (LAPSE, "withdrawn by EURid from its registrant"),
            "suspended": (HOLD, "suspended by EURid"),
            "not allowed": (RESERVED, "not a name EURid registers"),
            "reserved": (RESERVED, "reserved by EURid"),
            "blocked": (RESERVED, "blocked by EURid"),
        },
        expiry=(),
        created=(),
        statusless=True,
    ),
    Registry(
        "DNS Belgium",
        hosts=("whois.dns.be",),
        tlds=("be",),
        not_found=(_line(r"Status:[ \t]*AVAILABLE"),),
        names=(_field(r"^Domain:[ \t]*(\S+)"),),
        statuses=(_value("Status"),),
        # DNS Belgium's "Domain name status" page.
        states={
            "not available": (REGISTERED, "registered"),
            "registered": (REGISTERED, "registered"),
            "on hold": (REGISTERED, "frozen during a dispute; still its registrant's and in use"),
            "out of service": (
                LAPSE,
                "its registrar stopped and its due date passed: free in two months unless moved to a new registrar",
            ),
            "quarantine": (LAPSE, "deleted: 40 days in quarantine, then free"),
            "not allowed": (RESERVED, "not a valid .be name"),
        },
        expiry=(),
        created=(),
    ),
    Registry(
        "SWITCH",
        hosts=("whois.nic.ch", "whois.nic.li"),
        tlds=("ch", "li"),
        not_found=(
            _line(r"The domain name is not registered\.?"),
            _line(r"We do not have an entry in our database matching your query\.?"),
        ),
        refused=(_line(r"Requests of this client are not permitted\b.*"),),
        # "Domain name:" with the name on the next line.
        names=(_field(r"^Domain name:?[ \t]*\n?[ \t]*([^\s:]+)[ \t]*$"),),
        statuses=(),
        expiry=(),
        created=(),
        statusless=True,
    ),
    Registry(
        "JPRS",
        hosts=("whois.jprs.jp",),
        tlds=("jp",),
        not_found=(_line(r"No match!!"),),
        names=(_field(r"^(?:[a-z]\.[ \t]*)?\[Domain Name\][ \t]*(\S+)"),),
        statuses=(
            _field(r"^\[Status\][ \t]*(\S[^\n]*?)[ \t]*$"),
            _field(r"^\[State\][ \t]*([A-Za-z][A-Za-z ]*?)[ \t]*(?:\(|$)"),
        ),
        # JPRS's JP domain name life cycle; for co.jp and the like the date in [State] is the expiry.
        states={
            "connected": (REGISTERED, "registered and in the DNS"),
            "registered": (REGISTERED, "registered, not in the DNS yet"),
            "to be suspended": (LAPSE, "its registrant asked to delete it: suspended at the month's end"),
            "suspended": (LAPSE, "deleted: restorable by its old registrant for a few weeks, then free"),
            "deleted": (LAPSE, "deleted"),
            "reserved": (RESERVED, "reserved: not registered"),
        },
        expiry=(
            _field(r"^\[Expires on\][ \t]*(\S[^\n]*?)[ \t]*$"),
            _field(r"^\[State\][ \t]*[A-Za-z ]+\((\d{4}/\d{1,2}/\d{1,2})\)"),
        ),
        created=(
            _field(r"^\[Created on\][ \t]*(\S[^\n]*?)[ \t]*$"),
            _field(r"^\[Registered Date\][ \t]*(\S[^\n]*?)[ \t]*$"),
        ),
        dates=(YMD_SLASH,),
        utc_offset=9.0,
        query="{}/e",  # English output (JPRS's own help: "add '/e' at the end")
    ),
    Registry(
        "CNNIC",
        hosts=("whois.cnnic.cn",),
        tlds=("cn", "xn--fiqs8s", "xn--fiqz9s"),
        not_found=(_line(r"No matching record\.?"),),
        reserved=(_line(r"The domain you requested is prohibited\.?"),),
        expiry=(_value("Expiration Time"),),
        created=(_value("Registration Time"),),
        utc_offset=8.0,
    ),
    Registry(
        "TCI (.ru, .su, .рф)",
        hosts=("whois.tcinet.ru", "whois.ripn.net"),
        tlds=("ru", "su", "xn--p1ai"),
        not_found=(_line(r"No entries found for the selected source\(s\)\.?"),),
        names=(_value("domain"),),
        statuses=(_value("state"),),
        status_split=re.compile(r"\s*,\s*"),
        # An unpaid name keeps REGISTERED until its free-date: its paid-till date tells the lapse.
        states={
            "registered": (REGISTERED, "registered"),
            "delegated": (REGISTERED, "in the DNS"),
            "not delegated": (REGISTERED, "registered, not in the DNS"),
            "verified": (REGISTERED, "its registrant is verified"),
            "unverified": (REGISTERED, "its registrant is not verified"),
        },
        expiry=(_value("paid-till"),),
        created=(_value("created"),),
        utc_offset=3.0,
    ),
    Registry(
        "Identity Digital",
        hosts=(
            "whois.nic.io",
            "whois.nic.ac",
            "whois.nic.sh",
            "whois.nic.me",
            "whois.identitydigital.services",
            "whois.afilias-grs.info",
        ),
        tlds=("io", "ac", "sh", "me"),
        not_found=(_line(r"Domain not found\.?"), _line(r"NOT FOUND")),
        reserved=(_line(r"Reserved by Registry\.?"),),
    ),
    Registry(
        "GoDaddy Registry (.co, .us)",
        hosts=("whois.registry.co", "whois.nic.co", "whois.nic.us"),
        tlds=("co", "us"),
        not_found=(_line(r"No Data Found\.?"),),
    ),
    Registry(
        "Verisign",
        hosts=("whois.verisign-grs.com", "ccwhois.verisign-grs.com"),
        tlds=("com", "net", "cc"),
        not_found=(_line(r'No match for "(?P<name>[^"]+)"\.?'),),
        query="domain {}",  # a bare name also matches name servers and registrars
    ),
    Registry(
        "Internetstiftelsen",
        hosts=("whois.iis.se", "whois.iis.nu"),
        tlds=("se", "nu"),
        not_found=(_line(r'domain "?(?P<name>[^"\s]+?)"? not found\.?'),),
        names=(_value("domain"),),
        statuses=(_value("state"), _value("status")),
        # Expired for 10 days, then deactivated (out of the DNS) for 60, then released.
        states={
            "expired": (LAPSE, "expired: deactivated in 10 days unless renewed"),
            "deactivated": (LAPSE, "not renewed: out of the DNS, free 60 days later unless renewed"),
            "quarantine": (LAPSE, "deleted: in quarantine, then free"),
        },
        expiry=(_value("expires"),),
        created=(_value("created"),),
        utc_offset=1.0,
    ),
    Registry(
        "nic.at",
        hosts=("whois.nic.at",),
        tlds=("at",),
        not_found=(_line(r"%[ \t]*nothing found"),),
        names=(_value("domain"),),
        statuses=(),
        expiry=(),
        created=(),
        statusless=True,
    ),
    Registry(
        "Punktum dk",
        hosts=("whois.punktum.dk", "whois.dk-hostmaster.dk"),
        tlds=("dk",),
        not_found=(_line(r"No entries found for the selected source\.?"),),
        names=(_value("Domain"), _value("DNS")),
        statuses=(_value("Status"),),
        # Unpaid: suspended ("Deactivated") for three months, then deleted unless restored.
        states={"deactivated": (LAPSE, "suspended for an unpaid fee: deleted after three months unless restored")},
        expiry=(_value("Expires"),),
        created=(_value("Registered"),),
        utc_offset=1.0,
    ),
    Registry(
        "InternetNZ",
        hosts=("whois.irs.net.nz", "whois.srs.net.nz"),
        tlds=("nz",),
        not_found=(_line(r"query_status:[ \t]*220[ \t]+Available"),),
        refused=(_line(r"query_status:[ \t]*4\d\d\b.*"),),
        names=(_value("domain_name"),),
        statuses=(_value("query_status"),),
        states={
            "200 active": (REGISTERED, "registered"),
            "210 pending release": (LAPSE, "cancelled: free after 90 days unless reinstated"),
        },
        # domain_datebilleduntil is billing, not the registration's end: no expiry is read.
        expiry=(),
        created=(_value("domain_dateregistered"),),
    ),
    Registry(
        "TWNIC",
        hosts=("whois.twnic.net.tw",),
        tlds=("tw", "xn--kpry57d", "xn--kprw13d"),
        not_found=(_line(r"No Found"),),
        status_split=re.compile(r"\s*,\s*"),
        expiry=(_field(r"^[ \t]*Record expires on[ \t]*(\S[^\n]*?)[ \t]*$"),),
        created=(_field(r"^[ \t]*Record created on[ \t]*(\S[^\n]*?)[ \t]*$"),),
        utc_offset=8.0,
    ),
    Registry(
        "KISA",
        hosts=("whois.kr", "whois.nic.or.kr"),
        tlds=("kr", "xn--3e0b707e"),
        not_found=(_line(r"The requested domain was not found\b.*"),),
        names=(_value("Domain Name"),),
        statuses=(),
        expiry=(_value("Expiration Date"),),
        created=(_value("Registered Date"),),
        dates=(YMD_DOT,),
        utc_offset=9.0,
        statusless=True,
        codepage="euc-kr",
    ),
    Registry(
        "TRABIS",
        hosts=("whois.trabis.gov.tr", "whois.nic.tr"),
        tlds=("tr",),
        not_found=(_line(r'No match found for "?(?P<name>[^"\s]+?)"?\.?'),),
        names=(_field(r"^\*\*[ \t]*Domain Name:[ \t]*(\S+)"),),
        statuses=(),
        expiry=(_value("Expires on"),),
        created=(_value("Created on"),),
        dates=(YBD_DASH,),
        utc_offset=3.0,
        statusless=True,
        codepage="cp1254",
    ),
    Registry(
        "Traficom",
        hosts=("whois.fi", "whois.ficora.fi"),
        tlds=("fi",),
        not_found=(_line(r"Domain not found"),),
        names=(_value("domain"),),
        statuses=(_value("status"),),
        states={"registered": (REGISTERED, "registered")},
        expiry=(_value("expires"),),
        created=(_value("created"),),
        dates=(DMY_DOT,),
        utc_offset=2.0,
    ),
    Registry(
        "IRNIC",
        hosts=("whois.nic.ir",),
        tlds=("ir", "xn--mgba3a4f16a"),
        not_found=(
            _line(r"%ERROR:101:[ \t]*no entries found"),
            _line(r"%?[ \t]*No entries found in the selected source\(s\)\.?"),
        ),
        names=(_value("domain"),),
        statuses=(),
        expiry=(_value("expire-date"),),
        created=(),
        utc_offset=3.5,
        statusless=True,
    ),
    Registry(
        "NASK",
        hosts=("whois.dns.pl",),
        tlds=("pl",),
        not_found=(
            _line(r"No information available about domain name (?P<name>\S+) in the Registry NASK database\.?"),
        ),
        names=(_value("DOMAIN NAME"),),
        statuses=(),
        # The renewal date ends the registration; an "option" is someone's right to register it later.
        expiry=(_value("renewal date"),),
        created=(_value("created"),),
        dates=(YMD_DOT,),
        utc_offset=1.0,
        statusless=True,
    ),
    Registry(
        "Nominet",
        hosts=("whois.nic.uk",),
        tlds=("uk",),
        not_found=(_line(r'No match for "(?P<name>[^"]+)"\.?'),),
        names=(_field(r"^[ \t]*Domain name:[ \t]*\n[ \t]*(\S+)"),),
        # The indented lines under "Registration status:", up to the blank line.
        statuses=(_field(r"^[ \t]*Registration status:[ \t]*\n((?:[ \t]+\S[^\n]*(?:\n|$))+)"),),
        status_split=re.compile(r"\s*\n\s*"),
        # Nominet: "Renewal required" from expiry, suspended 30 days later, cancelled after 90.
        states={
            "registered until expiry date": (REGISTERED, "registered"),
            "registered until renewal date": (REGISTERED, "registered"),
            "renewal request being processed": (REGISTERED, "registered; a renewal is being processed"),
            "no registration status listed": (REGISTERED, "registered"),
            "renewal required": (LAPSE, "expired: suspended 30 days after expiry, cancelled after 90"),
            "this registration has been suspended": (LAPSE, "suspended after expiry: cancelled unless renewed"),
        },
        expiry=(_value("Expiry date"), _value("Renewal date")),
        created=(_value("Registered on"),),
        dates=(DBY_DASH,),
    ),
)

BY_HOST = {host: registry for registry in REGISTRIES for host in registry.hosts}
BY_TLD = {tld: registry for registry in REGISTRIES for tld in registry.tlds}


def registry_for(host: str, domain: str) -> Registry:
    """The row for a server host, else for the domain's TLD, else the generic one."""
    return BY_HOST.get(host.lower()) or BY_TLD.get(domain.rsplit(".", 1)[-1].lower()) or GENERIC
