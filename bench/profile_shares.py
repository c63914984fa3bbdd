"""Where a worker's time goes: shares of a py-spy raw profile, grouped by what the code is for.

    py-spy record -p <worker pid> -d 60 -r 100 -f raw -o prof.txt
    python -m bench.profile_shares prof.txt

A sample counts toward the first group any frame of its stack matches; the
consumer's background thread is left out (it mostly waits on the socket).
"""

from __future__ import annotations

import sys
from collections import Counter

GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("waiting in select", ("EpollSelector.select",)),
    ("input agents: parse, batch, send (ours)", ("ingest_email_events", "ingest_logins")),
    ("account hop: table reads and writes, domain commands", ("apply_account_commands",)),
    ("domain hop: table reads and writes, events", ("apply_domain_commands",)),
    (
        "Faust's consumer: fetch, drain, decode and queue each record",
        (
            "Fetcher._fetcher",
            "Consumer._drain_messages",
            "on_message",
            "_passive_drainer",
            "Fetcher._proc_fetch_request",
            "_fetch_requests_routine",
        ),
    ),
    (
        "producer: Faust's buffer and aiokafka's sender",
        ("ProducerBuffer", "Sender._", "SendProduceReqHandler", "_on_published", "_on_changelog_sent"),
    ),
    ("offset commits", ("_commit_handler", "Consumer.commit")),
    ("checks", ("Checker.", "keep_checking")),
]
OTHER = "event loop, asyncio, connections"
BACKGROUND_THREAD = "Thread._bootstrap"


def shares(lines) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for line in lines:
        stack, _, samples = line.rstrip().rpartition(" ")
        if not stack or stack.startswith(BACKGROUND_THREAD):
            continue
        group = next((name for name, marks in GROUPS if any(mark in stack for mark in marks)), OTHER)
        counts[group] += int(samples)
    total = sum(counts.values()) or 1
    return {group: count / total for group, count in counts.most_common()}


def main() -> None:
    with open(sys.argv[1]) as profile:
        for group, share in shares(profile).items():
            print(f"| {group} | {share:.0%} |")


if __name__ == "__main__":
    main()
