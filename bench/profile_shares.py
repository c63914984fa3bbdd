"""Where a worker's time goes: shares of a py-spy raw profile, grouped by what the code is for.

    py-spy record -p <worker pid> -d 60 -r 100 -f raw -o prof.txt
    python -m bench.profile_shares prof.txt

A sample counts toward the first group, in the order below, that any frame
of its stack matches (a mark is a substring of the frame: a name, or a file
such as `(aiokafka/consumer/`). Faust's consumer thread (aiokafka's fetches
for Faust's topics, mostly waiting on the socket) is left out: the shares
are of the worker's main thread.

The order decides what nested work counts as: the sends the input reader
makes count as the input reader's; the changelog records of a table write
count as table writes; what is left of a hop is its own logic and the
records it sends on. The domain-table reads of the check dispatcher count
as checks. The groups' marks name both the code of today (the batched input
reader, `table_batches`) and that of earlier profiles (the input agents,
Faust's per-key table writes), so an old profile still splits.

In the main thread aiokafka's consumer code is the input reader's (Faust's
consumer runs in its own thread); only at start-up the fast restore's
consumer runs there too, and its background fetches count as the input
reader's.
"""

from __future__ import annotations

import sys
from collections import Counter

IDLE = "idle: waiting in select"
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    (IDLE, ("EpollSelector.select",)),
    (
        "table recovery: fast restore, Faust's recovery and standbys",
        ("(streams/kafka/fast_restore.py", "(faust/tables/recovery.py"),
    ),
    (
        "Faust's consumer for the internal hops: fetch, drain, decode, queue, ack and commit each record",
        (
            "Fetcher._fetcher (faust/",
            "Consumer._drain_messages",
            "on_message (faust/",
            "_passive_drainer",
            "(faust/streams/",
            "_commit_handler",
            "Consumer.commit (faust/",
        ),
    ),
    (
        "input reader: fetch, parse, send (ours)",
        (
            "Intake.",
            "to_commands",
            "(streams/accounts/intake.py",
            "(aiokafka/consumer/",
            "ingest_email_events",  # the input agents before the batched reader
            "ingest_logins",
        ),
    ),
    (
        "checks: due index, dispatch, providers, results back to the domain hop",
        ("Checker.", "keep_checking", "dispatch_due_checks", "_rebuild_due", "publish_result", "_send_results"),
    ),
    (
        "table reads and writes: RocksDB and the changelog records (ours and Faust's)",
        (
            "PartitionWrites.apply",
            "send_in_batches",
            "read_many",
            "(streams/kafka/table_batches.py",
            "(streams/domains/table.py",  # a domain's rows read, joined, split and written
            "(faust/tables/",  # Faust's per-key get and set, and their changelog sends
            "(faust/stores/",
        ),
    ),
    ("account hop: commands applied, domain commands sent", ("apply_account_record", "apply_account_commands")),
    ("domain hop: commands applied, events sent", ("apply_domain_record", "apply_domain_commands")),
    (
        "producer: Faust's buffer and aiokafka's sender",
        (
            "ProducerBuffer",
            "Sender._",
            "SendProduceReqHandler",
            "_on_published",
            "_on_changelog_sent",
            "(aiokafka/producer/",
        ),
    ),
]
OTHER = "event loop, asyncio, connections"
BACKGROUND_THREAD = "Thread._bootstrap"


def group_of(stack: str) -> str:
    return next((name for name, marks in GROUPS if any(mark in stack for mark in marks)), OTHER)


def shares(lines, *, busy: bool = False) -> dict[str, float]:
    """Each group's share of the main thread's samples; `busy`: of those not idle in select."""
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, samples = line.rstrip().rpartition(" ")
        if not stack or stack.startswith(BACKGROUND_THREAD):
            continue
        counts[group_of(stack)] += int(samples)
    if busy:
        counts.pop(IDLE, None)
    total = sum(counts.values()) or 1
    return {group: count / total for group, count in counts.most_common()}


def main(argv: list[str]) -> None:
    busy = "--busy" in argv
    paths = [arg for arg in argv if arg != "--busy"]
    if len(paths) != 1:
        sys.exit("usage: python -m bench.profile_shares [--busy] prof.txt")
    with open(paths[0]) as profile:
        for group, share in shares(profile, busy=busy).items():
            print(f"| {group} | {share:.0%} |")


if __name__ == "__main__":
    main(sys.argv[1:])
