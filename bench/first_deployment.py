"""First deployment: `lapsewatch backfill` of a platform's existing accounts, read by a worker already running.

A worker starts on an empty broker (the deployment's first start, empty data
dir), then `lapsewatch backfill FILE` (the command line, a process of its own)
produces an export of BENCH_FIRST_DEPLOYMENT_ACCOUNTS accounts (1,000,000) to
the input topic. The export is bench/backfill_rate.py's: 75 % of the rows on
10,000 custom domains, 25 % on public mailboxes (which the backfill skips), a
few invalid (rejected), 90 % verified.

Timed from the backfill's launch: until it exits (every batch acknowledged),
and until the account table holds every account it produced. That second
moment is exact: each produced record is the `email_added` of a distinct
account with a custom address, so the table then holds that many keys, and
the accounts changelog (read from the beginning as it grows) holds that many
distinct keys. The worker also checks the new domains meanwhile (simulated
provider, 50 ms an answer), as a first deployment would.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
import uuid
from dataclasses import dataclass

from bench.backfill_rate import write as write_export
from bench.common import (
    ROOT,
    Figure,
    Progress,
    TopicReader,
    create_topic,
    embedded_broker,
    env_int,
    lapsewatch_worker,
    wait_until,
    workdir,
    worker_env,
    write_scenario,
)

NAME = "first_deployment"
INPUT = "accounts.email-events"  # the default input topic: the backfill's and the worker's
PARTITIONS = 8
POINT_EVERY = 1000  # distinct accounts between two progress points


@dataclass
class Backfill:
    rows: int
    produced: int
    public: int
    rejected: int
    seconds: float  # launch → exit


def accounts() -> int:
    return env_int("BENCH_FIRST_DEPLOYMENT_ACCOUNTS", 1_000_000)


class DistinctKeys:
    """Distinct keys seen on a topic, with (time, count) points as the count grows."""

    def __init__(self):
        self.keys: set[bytes] = set()
        self.progress = Progress()
        self.last_new_at = 0.0  # when the latest new key was read

    def __call__(self, message, at: float) -> None:
        if message.key in self.keys:
            return
        self.keys.add(message.key)
        self.last_new_at = at
        if len(self.keys) % POINT_EVERY == 0:
            self.progress.add(at, len(self.keys))


def number(label: str, text: str) -> int:
    found = re.search(rf"^{label}:?\s+([\d,]+)", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no {label!r} line in the backfill's output:\n{text}")
    return int(found.group(1).replace(",", ""))


async def backfill(env: dict[str, str], path, log_path) -> tuple[Backfill, float]:
    """Runs `lapsewatch backfill path`; returns its summary and when it was launched."""
    with open(log_path, "ab") as log:
        launched = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "streams", "backfill", str(path)),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
            stdin=asyncio.subprocess.DEVNULL,
        )
        out, _ = await process.communicate()
        seconds = time.monotonic() - launched
    text = out.decode(errors="replace")
    if process.returncode not in (0, 2):  # 2: some rows rejected, the others produced (the export has a few)
        raise RuntimeError(f"lapsewatch backfill exited with {process.returncode}:\n{text}\n(stderr in {log_path})")
    summary = Backfill(
        rows=number("rows read", text),
        produced=number("produced", text),
        public=number("public mailbox rows skipped", text),
        rejected=number("rejected", text),
        seconds=seconds,
    )
    return summary, launched


async def run() -> list[Figure]:
    rows = accounts()
    app_id = f"bench-first-{uuid.uuid4().hex[:8]}"
    with embedded_broker() as broker, workdir(NAME) as scratch:
        export = scratch / "accounts.jsonl"
        write_export(str(export), "jsonl", rows)
        await create_topic(broker.bootstrap, INPUT, PARTITIONS)
        env = worker_env(broker, app_id, scratch / "data", write_scenario(scratch / "scenario.json"))
        worker = lapsewatch_worker(env, scratch, "worker")
        table = DistinctKeys()
        changelog = TopicReader(broker.bootstrap, f"{app_id}-accounts-changelog", on_record=table, max_records=5000)
        try:
            await worker.start()
            await changelog.start()
            done, launched = await backfill(env, export, scratch / "backfill.log")
            await wait_until(
                lambda: len(table.keys) >= done.produced,
                max(600.0, done.produced / 100),
                f"{done.produced:,} accounts in the account table (have {len(table.keys):,})",
                worker.tail,
                poll=0.2,
            )
        finally:
            await changelog.stop()
            worker.stop()
    all_in = table.last_new_at - launched
    table.progress.add(table.last_new_at, len(table.keys))
    steady = table.progress.steady_rate(done.produced) if done.produced >= 10 * POINT_EVERY else float("nan")
    export_note = (
        f"{done.rows:,} rows: {done.produced:,} produced, {done.public:,} public mailboxes skipped, "
        f"{done.rejected:,} rejected"
    )
    return [
        Figure(
            NAME,
            f"lapsewatch backfill of {done.rows:,} accounts, launch → exit",
            done.seconds,
            "s",
            note=f"{export_note}; {done.rows / done.seconds:,.0f} rows/s, process start included",
            digits=1,
        ),
        Figure(
            NAME,
            "backfill launch → every account in the account table",
            all_in,
            "s",
            note=f"{done.produced:,} accounts (distinct keys on the accounts changelog); worker started before, "
            "checking the new domains meanwhile",
            digits=1,
        ),
        Figure(
            NAME,
            "first deployment: accounts into the table per second, backfill launch → all in",
            done.produced / all_in,
            "accounts/s",
            note=f"{done.rows / all_in:,.0f} export rows/s; table filling steady 10 → 90 %: {steady:,.0f} accounts/s",
        ),
    ]
