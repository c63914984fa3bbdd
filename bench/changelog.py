"""Table state written straight into the changelog topics, as a worker would have written it.

Filling a million accounts through the pipeline takes far longer than a
benchmark may run, so this builds the same records directly:

- the values come from lapsewatch's own pure code: `apply_command` for an
  account, `apply_member` and `apply_check` (an `active` answer) for a domain;
- keys and values are serialised by Faust's own codec (the tables' default,
  `json`), so the bytes are the ones `Table.send_changelog` produces;
- each record goes to the partition Faust would write it to: the partition of
  the repartition record that caused it, which Faust's producer chose with
  aiokafka's DefaultPartitioner (murmur2 of the raw key bytes).

`compare` reads back what a real worker wrote and reports any difference, so
the footprint benchmark proves the format before it relies on it.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from faust.serializers import codecs

from streams.accounts.address_book import apply_command
from streams.accounts.events import AccountCommand, AddressUpdate
from streams.core.policy import Policy
from streams.domains.lifecycle import CheckResult, apply_check, apply_member
from streams.kafka.end_offsets import end_offsets
from streams.providers.fastly_policy import classify_fastly

PARTITIONS = 8  # LAPSEWATCH_PARTITIONS, default
OCCURRED_AT = "2026-11-01T10:00:00Z"
VERIFIED_AT = "2024-05-01T12:00:00Z"
# Times in a domain's state come from the clock of the worker that wrote it: compared as "set or not".
CLOCK_FIELDS = ("first_seen_at", "last_check_at", "last_success_at", "next_check_at")
_partitioner = DefaultPartitioner()
_ALL = list(range(PARTITIONS))


def partition_of(key: str) -> int:
    """The repartition record's partition (Faust's producer: murmur2 of the raw key), hence the changelog's."""
    return _partitioner(key.encode(), _ALL, _ALL)


def encode(obj: object) -> bytes:
    return codecs.dumps("json", obj)


@dataclass
class Population:
    """`accounts` accounts, one custom address each, on `domains` domains with a long tail of sizes."""

    accounts: int
    domains: int
    tag: str
    seed: int = 7

    def sizes(self) -> list[int]:
        # Every domain one account; the rest by Zipf-Mandelbrot weights 1/(rank + 50): a few
        # domains with a couple of thousand accounts, most with one (see BENCHMARKS.md).
        sizes = [1] * self.domains
        weights = list(itertools.accumulate(1.0 / (rank + 50) for rank in range(self.domains)))
        for index in random.Random(self.seed).choices(
            range(self.domains), cum_weights=weights, k=self.accounts - self.domains
        ):
            sizes[index] += 1
        return sizes

    def domain(self, index: int) -> str:
        return f"shop{index}-{self.tag}.com"

    def members(self) -> Iterator[tuple[str, str, str]]:
        """(account id, address, domain), grouped by domain."""
        account = 0
        for index, size in enumerate(self.sizes()):
            domain = self.domain(index)
            for _ in range(size):
                yield f"{self.tag}-{account}", f"user{account}@{domain}", domain
                account += 1

    def event(self, account: str, email: str) -> tuple[bytes, bytes]:
        """The input event that creates this account (bench.common.email_added, same fields)."""
        from bench.common import email_added

        return email_added(account, email, f"{account}-ev")


def account_record(account: str, email: str, domain: str) -> tuple[dict, list[dict]]:
    """What the account stage makes of the account's one `email_added`: its state and domain commands.

    The command is built as `parse_email_event` builds it for this (already lowercase ASCII) address;
    `sample_matches_parser` checks that on a sample.
    """
    command = AccountCommand(
        event_id=f"{account}-ev",
        account_id=account,
        occurred_at=OCCURRED_AT,
        upsert=[AddressUpdate(email, email, domain, True, VERIFIED_AT)],
    )
    return apply_command(None, command)


def domain_state(commands: list[dict], policy: Policy, now: float, checked: bool) -> dict:
    state = None
    for command in commands:
        state, _events = apply_member(state, command, now)
    if checked:
        result = CheckResult.from_verdict(state.domain, now, "simulated", classify_fastly("active"))
        state, _events = apply_check(state, result, now, policy)
    return state.to_dict()


def records(
    population: Population, policy: Policy, now: float, checked: bool = True
) -> Iterator[tuple[str, int, bytes, bytes]]:
    """(table, partition, key bytes, value bytes) for every account and every domain of the population."""
    domain = None
    commands: list[dict] = []
    for account, email, member_domain in itertools.chain(population.members(), [(None, None, None)]):
        if member_domain != domain and domain is not None:
            yield "domains", partition_of(domain), encode(domain), encode(domain_state(commands, policy, now, checked))
            commands = []
        if account is None:
            break
        domain = member_domain
        state, out = account_record(account, email, member_domain)
        commands.extend(out)
        yield "accounts", partition_of(account), encode(account), encode(state)


def sample_matches_parser(population: Population, size: int = 200) -> int:
    """How many sampled accounts the real parser turns into a different account state (should be 0)."""
    from streams.accounts.events import parse_email_event
    from streams.core.addresses import PublicMailboxes

    public = PublicMailboxes()
    wrong = 0
    for account, email, domain in itertools.islice(population.members(), size):
        key, value = population.event(account, email)
        parsed = apply_command(None, parse_email_event(key, value, public=public, max_bytes=1 << 20))
        wrong += parsed != account_record(account, email, domain)
    return wrong


async def write(
    bootstrap: str, app_id: str, population: Population, policy: Policy, checked: bool = True
) -> dict[str, int]:
    """Produces the population's records to `<app id>-accounts-changelog` and `-domains-changelog`.

    Bulk in large batches; the worker's recovery reads them up to the true end offsets
    (streams/kafka/end_offsets.py).
    """
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    counts = {"accounts": 0, "domains": 0}
    try:
        for table, partition, key, value in records(population, policy, time.time(), checked):
            topic = f"{app_id}-{table}-changelog"
            await producer.send(topic, key=key, value=value, partition=partition)
            counts[table] += 1
        await producer.flush()
    finally:
        await producer.stop()
    return counts


async def read_latest(bootstrap: str, topic: str) -> dict[bytes, tuple[int, bytes]]:
    """The last value of every key on a topic: key → (partition, value)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p)
            for p in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        consumer.assign(parts)
        ends = await end_offsets(consumer, parts)
        latest: dict[bytes, tuple[int, bytes]] = {}
        for tp in parts:
            await consumer.seek_to_beginning(tp)

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in parts])

        while await behind():
            for tp, messages in (await consumer.getmany(timeout_ms=500)).items():
                for message in messages:
                    latest[message.key] = (tp.partition, message.value)
        return latest
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def _comparable(table: str, value: bytes) -> object:
    decoded = codecs.loads("json", value)
    if table == "domains":
        decoded = {**decoded, **{name: decoded[name] is not None for name in CLOCK_FIELDS}}
    return decoded


def compare(table: str, written: dict[bytes, tuple[int, bytes]], built: dict[bytes, tuple[int, bytes]]) -> list[str]:
    """Differences between a worker's changelog and the built one (clock values only as set/unset)."""
    problems = []
    for key in sorted(set(written) | set(built)):
        if key not in written or key not in built:
            problems.append(f"{table} {key!r}: only in the {'built' if key in built else 'worker'} changelog")
            continue
        (p1, v1), (p2, v2) = written[key], built[key]
        if p1 != p2:
            problems.append(f"{table} {key!r}: partition {p1} by the worker, {p2} built")
        elif _comparable(table, v1) != _comparable(table, v2):
            problems.append(f"{table} {key!r}: value differs:\n  worker {v1[:300]!r}\n  built  {v2[:300]!r}")
    return problems
