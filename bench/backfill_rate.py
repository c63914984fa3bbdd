"""Backfill throughput: 200,000 generated rows into an embedded broker, in process.

    .venv/bin/python bench/backfill_rate.py [--rows N] [--format jsonl|csv]

Rows: 75 % on 10,000 custom domains (so about 15 accounts share a domain, and
IDNA work is cached per host), 25 % on public mailboxes, a few invalid. Timing
covers reading, validating and producing until every batch is acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import tempfile
import time

import orjson

from streams.core.addresses import PublicMailboxes
from streams.kafka.broker import EmbeddedBroker
from streams.ops.backfill import run_backfill

PUBLIC = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com")


def rows(count: int, seed: int = 7):
    rng = random.Random(seed)
    for i in range(count):
        roll = rng.random()
        if roll < 0.25:
            email = f"user{i}@{rng.choice(PUBLIC)}"
        elif roll < 0.251:
            email = f"user{i}@not a domain"
        else:
            email = f"User.{i}@mail.company{rng.randrange(10_000)}.co.uk"
        verified = rng.random() < 0.9
        yield {
            "account_id": str(1_000_000 + i),
            "email": email,
            "verified": verified,
            "verified_at": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T12:00:00Z" if verified else None,
        }


def write(path: str, fmt: str, count: int) -> None:
    with open(path, "w", newline="") as out:
        if fmt == "jsonl":
            for row in rows(count):
                out.write(orjson.dumps(row).decode() + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow(["account_id", "email", "verified", "verified_at"])
            for row in rows(count):
                writer.writerow([row["account_id"], row["email"], row["verified"], row["verified_at"] or ""])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"accounts.{args.format}")
        write(path, args.format, args.rows)
        broker = EmbeddedBroker().start()
        try:
            with open(path, "rb") as stream:
                summary = asyncio.run(
                    run_backfill(
                        stream,
                        args.format,
                        bootstrap=broker.bootstrap,
                        topic=f"bench.email-events-{time.time_ns()}",
                        public=PublicMailboxes(),
                    )
                )
        finally:
            broker.stop()
    print(
        f"{args.format}: read {summary.read:,} rows, produced {summary.produced:,}, public {summary.public:,}, "
        f"rejected {len(summary.rejected):,} in {summary.elapsed:.2f} s: {summary.rate:,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
