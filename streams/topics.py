"""Every topic lapsewatch reads or writes, and the two tables."""

from __future__ import annotations

from typing import TypedDict

from streams.app import app, settings


class _Codecs(TypedDict):
    key_serializer: str
    value_serializer: str


RAW: _Codecs = {"key_serializer": "raw", "value_serializer": "raw"}

# Inputs belong to the platform: any partition count, values parsed by us so bad ones reach the dead-letter topic.
email_events = app.topic(settings.topics.email_events, allow_empty=True, **RAW)
logins = app.topic(settings.topics.logins, allow_empty=True, **RAW)
# Operators' commands (`lapsewatch recheck/allow/unallow`), keyed by domain; forwarded to the owner in order.
# internal=True: lapsewatch owns it, so the worker creates it before subscribing.
control = app.topic(settings.topics.control, partitions=settings.partitions, internal=True, allow_empty=True, **RAW)

# Outputs: JSON we serialise ourselves, so the bytes are exactly the contract.
email_unverified = app.topic(settings.topics.email_unverified, partitions=settings.partitions, **RAW)
domain_status = app.topic(settings.topics.domain_status, partitions=settings.partitions, **RAW)
dead_letter = app.topic(settings.topics.dead_letter, partitions=settings.partitions, **RAW)
OUTPUTS = (email_unverified, domain_status, dead_letter)

# Internal repartition topics: account-partitioned, then domain-partitioned. Values are
# batches of commands (streams/core/batches.py), encoded by us.
account_commands = app.topic(
    settings.internal_topics["account_commands"], partitions=settings.partitions, internal=True, **RAW
)
domain_commands = app.topic(
    settings.internal_topics["domain_commands"], partitions=settings.partitions, internal=True, **RAW
)

# One RocksDB per table partition. Faust's defaults (per partition: up to three 64 MiB write buffers,
# a 2 GiB block cache) keep the rows a takeover restores in memory; small write buffers put them on
# disk as they come (BENCHMARKS.md, Footprint).
STORE_OPTIONS = {"write_buffer_size": 4 * 1024**2, "max_write_buffer_number": 2, "block_cache_size": 16 * 1024**2}

accounts = app.Table(
    "accounts",
    partitions=settings.partitions,
    options=dict(STORE_OPTIONS),
    help="account id → its custom-domain addresses",
)
domains = app.Table(
    "domains",
    partitions=settings.partitions,
    options=dict(STORE_OPTIONS),
    help="registrable domain → status and members",
)


@app.task
async def declare_outputs() -> None:
    for topic in OUTPUTS:
        await topic.maybe_declare()
