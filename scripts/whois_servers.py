#!/usr/bin/env python3
"""Rebuild or check streams/data/whois-servers.json, the TLD → WHOIS server table.

    python scripts/whois_servers.py            # rebuild the file
    python scripts/whois_servers.py --check    # exit 1 if the committed file differs from a rebuild
    python scripts/whois_servers.py --tgz whoisserver-world-1.0.31.tgz   # a copy already at hand

The data comes only from a package registry: npm's `whoisserver-world` 1.0.31
(ISC licence), whose package/whoisservers.json is a scrape of IANA's root
zone database. `npm pack` fetches it; its sha256 is pinned. A short list of
overrides follows, each with the documented fact behind it.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.providers.whois_servers import load_whois_table, valid_server, valid_suffix  # noqa: E402

PACKAGE, VERSION = "whoisserver-world", "1.0.31"
SHA256 = "e50fececfbf5ca3495fda17a6e4200d5ce15db68a5f35bb24f895942863803a8"
MEMBER = "package/whoisservers.json"
OUT = ROOT / "streams" / "data" / "whois-servers.json"
NO_SERVER = f"IANA's root zone database names no WHOIS server ({PACKAGE} {VERSION})"

# Facts from Debian's `whois` package (5.6.6, its changelog and its server table) that are
# newer than IANA's database as scraped: tld → (server, or None for no port-43 service; why).
OVERRIDES: dict[str, tuple[str | None, str]] = {
    "co": ("whois.registry.co", "the .co registry's current server (Debian whois 5.6.5: updated the .co server)"),
    "bz": ("whois.identitydigital.services", "Identity Digital's server (Debian whois 5.6.0: updated .bz)"),
    "lc": ("whois.identitydigital.services", "Identity Digital's server (Debian whois 5.6.0: updated .lc)"),
    "pr": ("whois.nic.pr", "the registry's own server (Debian whois 5.6.0: updated .pr)"),
    "ga": ("whois.nic.ga", "the registry's current server (Debian whois 5.5.18: updated .ga)"),
    "mc": ("whois.nic.mc", "added by Debian whois 5.6.6; IANA's database names none"),
    "za": ("whois.nic.za", "added by Debian whois 5.6.0; IANA's database names none"),
    "xn--l1acc": ("whois.mn", ".мон, added by Debian whois 5.6.3"),
    "info": (None, "port 43 retired (Debian whois 5.6.6 removed the .info server); RDAP serves it"),
    "mobi": (None, "port 43 retired (Debian whois 5.6.6 removed the .mobi server); RDAP serves it"),
    "travel": (None, "port 43 retired (Debian whois 5.6.6 removed the .travel server); RDAP serves it"),
    "pro": (None, "port 43 retired (Debian whois 5.6.5 removed the .pro server); RDAP serves it"),
    "jobs": (None, "port 43 retired (Debian whois 5.6.1 removed the .jobs server); RDAP serves it"),
    "xn--ygbi2ammx": (None, ".فلسطين: port 43 retired (Debian whois 5.6.6 removed its server)"),
    "ps": (None, "web only: https://www.pnina.ps/ (Debian whois 5.6.6: updated the .ps server)"),
    "es": (None, "web only: Red.es answers on https://www.dominios.es/ (Debian whois: web only)"),
    "gq": (None, "web only (Debian whois 5.6.0: updated the .gq server to its web page)"),
    "uy": (None, "web only: https://www.nic.uy/ (Debian whois 5.6.0: updated the .uy server)"),
    "xn--node": (None, ".გე: web only (Debian whois 5.6.0: updated its server to a web page)"),
    "mo": (None, "web only: https://www.monic.mo/ (Debian whois 5.5.19: updated the .mo server)"),
    "xn--mix891f": (None, ".澳門: web only (Debian whois 5.5.19: updated its server to a web page)"),
    "cf": (None, "no port-43 service (Debian whois 5.6.6 lists none)"),
    "mp": (None, "no port-43 service (Debian whois 5.6.6 lists none)"),
}
# A registry that renamed its server: every TLD on the old host moves.
RENAMED: dict[str, tuple[str, str]] = {
    "whois.registry.in": (
        "whois.nixiregistry.in",
        "NIXI's server for .in and its IDN TLDs (Debian whois 5.6.2: updated the .in and related IDN servers)",
    ),
}


def fetch(tgz: Path | None) -> bytes:
    """whoisservers.json from the npm package (packed now unless `tgz` is given), checked against the pin."""
    with tempfile.TemporaryDirectory() as work:
        if tgz is None:
            subprocess.run(
                ["npm", "pack", f"{PACKAGE}@{VERSION}", "--pack-destination", work, "--silent"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tgz = Path(work) / f"{PACKAGE}-{VERSION}.tgz"
        data = tgz.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256:
            raise SystemExit(f"{tgz}: sha256 {digest}, expected {SHA256}: not the pinned {PACKAGE} {VERSION}")
        with tarfile.open(tgz) as archive:
            member = archive.extractfile(MEMBER)
            if member is None:
                raise SystemExit(f"{tgz}: no {MEMBER}")
            return member.read()


def build(raw: bytes, today: str) -> dict:
    scrape = orjson.loads(raw)
    servers: dict[str, str] = {}
    none: dict[str, str] = {}
    stamps = []
    for key, entry in scrape.items():
        tld = valid_suffix(key)
        stamps.append(entry.get("t"))
        hosts = [h for h in entry.get("whoisServer") or [] if isinstance(h, str) and h.strip()]
        if not hosts:
            none[tld] = NO_SERVER
            continue
        host = valid_server(hosts[0])
        servers[tld] = RENAMED[host][0] if host in RENAMED else host
    for tld, (server, why) in OVERRIDES.items():
        servers.pop(tld, None)
        none.pop(tld, None)
        if server is None:
            none[tld] = why
        else:
            servers[tld] = valid_server(server)
    scraped = sorted(
        datetime.fromtimestamp(t / 1000, UTC).date().isoformat() for t in stamps if isinstance(t, (int, float))
    )
    return {
        "source": {
            "package": f"npm {PACKAGE}@{VERSION}",
            "member": MEMBER,
            "sha256": SHA256,
            "licence": "ISC",
            "data": f"a scrape of IANA's root zone database, {scraped[0]}..{scraped[-1]}" if scraped else "",
            "overrides": {tld: why for tld, (_, why) in sorted(OVERRIDES.items())},
            "renamed": {old: f"{new}: {why}" for old, (new, why) in sorted(RENAMED.items())},
            "script": "scripts/whois_servers.py",
        },
        "generated": today,
        "servers": dict(sorted(servers.items())),
        "none": dict(sorted(none.items())),
    }


def check(document: dict) -> None:
    """What any table we ship must hold."""
    table = load_whois_table(orjson.dumps(document), "the rebuilt table")
    problems = []
    if len(table.servers) < 1000:
        problems.append(f"only {len(table.servers)} servers")
    for tld, host in (("de", "whois.denic.de"), ("jp", "whois.jprs.jp"), ("co", "whois.registry.co")):
        if table.servers.get(tld) != host:
            problems.append(f".{tld} → {table.servers.get(tld)!r}, expected {host}")
    if set(table.servers) & set(table.none):
        problems.append(f"both served and not: {sorted(set(table.servers) & set(table.none))[:5]}")
    if problems:
        raise SystemExit("the table fails its checks: " + "; ".join(problems))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    parser.add_argument("--tgz", type=Path, help=f"a {PACKAGE}-{VERSION}.tgz already downloaded")
    args = parser.parse_args(argv)
    document = build(fetch(args.tgz), datetime.now(UTC).date().isoformat())
    check(document)
    if args.check:
        committed = orjson.loads(OUT.read_bytes())
        differs = [key for key in ("source", "servers", "none") if committed.get(key) != document[key]]
        if differs:
            print(f"{OUT.relative_to(ROOT)} differs from a rebuild in: {', '.join(differs)}", file=sys.stderr)
            return 1
        print(
            f"{OUT.relative_to(ROOT)} matches a rebuild ({len(document['servers'])} servers, "
            f"{len(document['none'])} without)"
        )
        return 0
    OUT.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {len(document['servers'])} servers, {len(document['none'])} without")
    return 0


if __name__ == "__main__":
    sys.exit(main())
