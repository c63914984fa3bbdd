"""`lapsewatch backfill`: existing accounts from a file, as `email_added` events on the input topic.

Reading and validation are pure (rows in, `(key, value)` records or rejections
out); `produce` writes records to Kafka in whole batches per partition.

Running a backfill twice changes nothing: every event id is derived from the
row's content, so the account book drops the second copy as a duplicate, and
re-applying an identical address is a no-op anyway once the id has aged out.

Ordering: the account stage (streams/accounts/address_book.py) applies a
change to an address only when its `occurred_at` is at or after the address's
last change. A row has no time of its own (the export may be older than events
already on the live topic, or arriving while it runs), so every backfill event
says it occurred at `BACKFILL_OCCURRED_AT`, the oldest time there is: any
timed live event about the same address wins, whichever is applied first, and
live removals' tombstones keep the address away. `verified_at` is no
substitute: it dates the verification, not the export, and it is null for
unverified rows, and an event without a time overrides anything. (Live events
that carry no time are, as ever, applied in arrival order.) Record timestamps
stay "now", or retention would drop them.

Public mailbox addresses (gmail.com, ...) are counted and skipped: the
pipeline drops them on arrival, never checks them and keeps no state for them.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, BinaryIO

import orjson

from streams.core.addresses import (
    MAX_ADDRESS,
    MAX_LOCAL,
    Address,
    InvalidAddress,
    PublicMailboxes,
    ascii_host,
    normalize_address,
    registrable_domain,
)
from streams.core.inbound import Rejected, parse_timestamp

if TYPE_CHECKING:
    from aiokafka.producer.message_accumulator import BatchBuilder

FORMATS = ("jsonl", "csv")
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv"}

# The oldest time there is, so that live events always win (module docstring).
BACKFILL_OCCURRED_AT = "0001-01-01T00:00:00Z"

# uuid5 namespace of backfill event ids; fixed forever, or a rerun would not de-duplicate.
_NAMESPACE = hashlib.sha1(b"https://lapsewatch.dev/backfill").digest()[:16]

MAX_ACCOUNT_ID = 200  # the event schema's limit: longer ids would be dead-lettered
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})
# A plain ASCII local part: strictly inside what normalize_address accepts, so the fast path never widens it.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+")


class BackfillError(Exception):
    """The file as a whole cannot be read (no header, unknown format)."""


class RowError(Exception):
    """One row cannot become an event; the message is the reason shown to the operator."""


def detect_format(name: str) -> str:
    for extension, fmt in _EXTENSIONS.items():
        if name.lower().endswith(extension):
            return fmt
    raise BackfillError(f"cannot tell the format of {name!r} from its name: pass --format jsonl or --format csv")


# -- readers: (line number, fields) or (line number, reason the line could not be read) --

Row = tuple[int, "dict | str"]


def read_jsonl(stream: BinaryIO) -> Iterator[Row]:
    for number, line in enumerate(stream, 1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc}"
            continue
        if not isinstance(document, dict):
            document = f"expected a JSON object, got {type(document).__name__}"
        yield number, document


def _text_lines(stream: BinaryIO, bad: set[int]) -> Iterator[str]:
    """Decoded lines; a line that is not UTF-8 is noted in `bad` so only its row is rejected."""
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(number)
            text = raw.decode("utf-8", "surrogateescape")
        yield text[1:] if number == 1 and text.startswith("\ufeff") else text


def read_csv(stream: BinaryIO) -> Iterator[Row]:
    bad: set[int] = set()
    reader = csv.reader(_text_lines(stream, bad))
    header = None
    end = 0
    for cells in reader:
        start, end = end + 1, reader.line_num  # a quoted field may span lines: report where the row starts
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in cells]
            if "account_id" not in header or not ({"email", "address"} & set(header)):
                raise BackfillError(
                    f"line {start}: the CSV header must name the columns account_id and email "
                    f"(or address), got {','.join(header)!r}"
                )
            continue
        if bad and any(number in bad for number in range(start, end + 1)):
            yield start, "not valid UTF-8"
        elif len(cells) != len(header):
            yield start, f"{len(cells)} fields, but the header has {len(header)}"
        else:
            yield start, dict(zip(header, cells, strict=True))


def read_rows(stream: BinaryIO, fmt: str) -> Iterator[Row]:
    return read_jsonl(stream) if fmt == "jsonl" else read_csv(stream)


# -- validation: fields → (key, value) --


def event_id(account_id: str, address_key: str, verified: bool, verified_at: str | None) -> str:
    """`backfill-` + uuid5 of the row's content (same as `uuid.uuid5`, without its object overhead)."""
    name = orjson.dumps([account_id, address_key, verified, verified_at])
    digest = bytearray(hashlib.sha1(_NAMESPACE + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"backfill-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=1 << 16)
def _host(host: str) -> tuple[str, str] | None:
    """(punycode host, registrable domain), or None when invalid. IDNA is most of the cost of an address."""
    try:
        ascii_name = ascii_host(host)
        return ascii_name, registrable_domain(ascii_name)
    except InvalidAddress:
        return None


def fast_normalize(text: object) -> Address:
    """`normalize_address` with the host step cached. Anything unusual takes the slow path, which gives the reason."""
    if type(text) is str:
        stripped = text.strip()
        local, at, host = stripped.rpartition("@")
        if at and len(stripped) <= MAX_ADDRESS and len(local) <= MAX_LOCAL and _PLAIN_LOCAL.fullmatch(local):
            known = _host(host)
            if known is not None:
                return Address(original=text, key=f"{local.lower()}@{known[0]}", host=known[0], domain=known[1])
    return normalize_address(text)


def _account_id(value: object) -> str:
    if type(value) is int:  # JSON numbers: bool is an int subclass and is not an id
        value = str(value)
    if not isinstance(value, str):
        raise RowError(
            "account_id: missing"
            if value is None
            else f"account_id: expected a string or an integer, got {type(value).__name__}"
        )
    value = value.strip()  # spaces around an id are an export artefact, not part of the id
    if not value:
        raise RowError("account_id: empty")
    if len(value) > MAX_ACCOUNT_ID:
        raise RowError(f"account_id: longer than {MAX_ACCOUNT_ID} characters")
    return value


def _verified(value: object) -> bool:
    if value is True or value is False:
        return value
    if value is None:
        return True  # unknown counts as verified: unverifying an unverified address costs nothing
    text = str(value).strip().lower()
    if text in _TRUE or text == "":
        return True
    if text in _FALSE:
        return False
    raise RowError(f"verified: expected true/false, 1/0 or yes/no, got {value!r}")


def _verified_at(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RowError(f"verified_at: expected an ISO 8601 string, got {type(value).__name__}")
    try:
        return parse_timestamp(value, "verified_at")
    except Rejected as exc:
        raise RowError(exc.message) from None


class EventBuilder:
    """Turns one row's fields into the `email_added` record for it."""

    def __init__(self, public: PublicMailboxes):
        self.public = public

    def build(self, fields: Mapping[str, object]) -> tuple[bytes, bytes] | None:
        """(key, value), or None for a public mailbox address; raises RowError."""
        account = _account_id(fields.get("account_id"))
        email = fields.get("email")
        if email is None or email == "":
            email = fields.get("address")
        if email is None or email == "":
            raise RowError("email: missing")
        try:
            address = fast_normalize(email)
        except InvalidAddress as exc:
            raise RowError(f"email: {exc}") from None
        verified = _verified(fields.get("verified"))
        verified_at = _verified_at(fields.get("verified_at"))
        if address.domain in self.public:
            return None  # the pipeline drops these on arrival: nothing to check, no state to keep
        value = orjson.dumps(
            {
                "event_id": event_id(account, address.key, verified, verified_at),
                "type": "email_added",
                "account_id": account,
                "email": address.original.strip(),
                "verified": verified,
                "verified_at": verified_at,
                "occurred_at": BACKFILL_OCCURRED_AT,
            }
        )
        return account.encode(), value


@dataclass
class Summary:
    read: int = 0
    produced: int = 0  # delivered to the broker (or valid, on a dry run)
    public: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.read / self.elapsed if self.elapsed > 0 else 0.0


def prepare(
    rows: Iterable[Row],
    builder: EventBuilder,
    summary: Summary,
    progress: Callable[[int], None] | None = None,
    every: int = 2000,
) -> Iterator[tuple[bytes, bytes]]:
    """The records to produce; counts rows, public addresses and rejections into `summary`."""
    build = builder.build
    for line, fields in rows:
        summary.read += 1
        if progress is not None and summary.read % every == 0:
            progress(summary.read)
        if isinstance(fields, str):
            summary.rejected.append((line, fields))
            continue
        try:
            record = build(fields)
        except RowError as exc:
            summary.rejected.append((line, str(exc)))
            continue
        if record is None:
            summary.public += 1
        else:
            yield record
    if progress is not None:
        progress(summary.read)


# -- production --

BATCH_BYTES = 512 * 1024  # below any broker's default message.max.bytes (1 MiB)


async def produce(
    records: Iterable[tuple[bytes, bytes]],
    *,
    bootstrap: str,
    topic: str,
    batch_bytes: int = BATCH_BYTES,
    client_options: dict | None = None,
) -> int:
    """Sends every record, keyed as Kafka's default partitioner would; returns how many were delivered.

    Whole batches per partition (`create_batch`/`send_batch`) instead of one
    `send()` per record, which costs more than reading and validating a row.

    The last record of each partition goes in a batch of its own. Tansu 0.6.0
    reports a partition's end offset as its last batch's base offset + 1 (one
    short after a two-record batch, 99 short after a hundred), so after a
    batched backfill consumer lag and anything waiting to be "caught up"
    would be wrong until the partition's next write. Its fetches still serve
    those records: it is the end offset, not delivery, that this fixes. One
    extra small batch per partition on any other broker.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    # client_options: the workers' TLS/SASL settings (Settings.broker_security).
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        max_batch_size=batch_bytes,
        max_request_size=max(batch_bytes * 2, 1024 * 1024),
        **(client_options or {}),
    )
    try:
        await producer.start()
        partitions = sorted(await producer.partitions_for(topic))
        partition_of = DefaultPartitioner()
        builders: dict[int, BatchBuilder] = {}
        held: dict[int, tuple[bytes, bytes]] = {}
        deliveries: list[tuple[asyncio.Future, int]] = []

        async def send(partition: int, batch: BatchBuilder) -> None:
            deliveries.append((await producer.send_batch(batch, topic, partition=partition), batch.record_count()))

        for count, (key, value) in enumerate(records, 1):
            partition = partition_of(key, partitions, partitions)
            previous = held.get(partition)
            held[partition] = (key, value)
            if previous is not None:
                batch = builders.get(partition)
                if batch is None:
                    batch = builders[partition] = producer.create_batch()
                if batch.append(timestamp=None, key=previous[0], value=previous[1]) is None:  # full
                    await send(partition, batch)
                    batch = builders[partition] = producer.create_batch()
                    batch.append(timestamp=None, key=previous[0], value=previous[1])
            if count % 4096 == 0:
                await asyncio.sleep(0)  # let the sender drain what is ready
        for partition, batch in builders.items():
            await send(partition, batch)
        for partition, (key, value) in held.items():
            batch = producer.create_batch()
            batch.append(timestamp=None, key=key, value=value)
            await send(partition, batch)
        delivered = 0
        for future, size in deliveries:
            await future  # raises the broker's error for this batch
            delivered += size
        return delivered
    finally:
        await producer.stop()


async def run_backfill(
    stream: BinaryIO,
    fmt: str,
    *,
    bootstrap: str | None,
    topic: str,
    public: PublicMailboxes,
    progress: Callable[[int], None] | None = None,
    client_options: dict | None = None,
) -> Summary:
    """Read, validate and (unless `bootstrap` is None: a dry run) produce; returns the summary."""
    summary = Summary()
    started = time.monotonic()
    records = prepare(read_rows(stream, fmt), EventBuilder(public), summary, progress)
    if bootstrap is None:
        summary.produced = sum(1 for _ in records)
    else:
        summary.produced = await produce(records, bootstrap=bootstrap, topic=topic, client_options=client_options)
    summary.elapsed = time.monotonic() - started
    return summary


def summary_lines(summary: Summary, *, dry_run: bool = False, shown: int = 20) -> list[str]:
    """The report printed at the end, rejected rows listed up to `shown`."""
    lines = [
        f"rows read:   {summary.read:,}",
        f"would produce: {summary.produced:,} (dry run: nothing sent)"
        if dry_run
        else f"produced:    {summary.produced:,}",
        f"public mailbox rows skipped: {summary.public:,} (the pipeline ignores them)",
        f"rejected:    {len(summary.rejected):,}",
    ]
    lines += [f"  line {line}: {reason}" for line, reason in summary.rejected[:shown]]
    if len(summary.rejected) > shown:
        lines.append(f"  … and {len(summary.rejected) - shown:,} more (--rejects FILE lists them all)")
    lines.append(f"elapsed:     {summary.elapsed:.2f} s ({summary.rate:,.0f} rows/s)")
    return lines
