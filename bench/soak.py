"""Soak: ten minutes or more of mixed account traffic against RDAP registries that misbehave.

    LAPSEWATCH_SOAK_SECONDS=600 python -m bench soak      # `make soak`; not part of a plain `make bench`

Everything runs on loopback, on one embedded Tansu broker:

- Four HTTPS RDAP registries, one per TLD (tests/rdap_server.py, its test CA
  trusted through LAPSEWATCH_CA_BUNDLE), reached through LAPSEWATCH_RDAP_SERVERS:
  .com and .info answer every name; .net answers every name except a handful
  that fail for good, two per fault: a hang past the request timeout, HTTP
  500, 429 with Retry-After in seconds, 429 with Retry-After as an HTTP date,
  a body that is not JSON, a truncated body, a body trickled a byte at a time;
  .org goes down midway (connections refused, open ones cut) for a minute,
  then listens again on the same port.
- Two lapsewatch workers in one consumer group, provider `rdap`, with short
  schedules: recheck every minute, retries after seconds, a lapse confirmed
  5 s after it is first seen, breaker 5 failures / 5 s cooldown / 30 s at most.
- The platform, played by this process: a few thousand domains, each with an
  anchor account that only logs in, and more accounts churning through
  email_added, email_changed (with and without previous_email),
  email_removed and logins with snapshots at a steady rate for the whole run.
  This process keeps the model of who holds which address.
- During the run, some domains lapse: their registry's answer changes from
  active to redemption period, pending delete, expired, on hold after expiry
  or 404. At 30 % one worker is stopped with SIGTERM and started again on its
  data dir; at 45 % the .org registry goes down; at 70 % the other worker is
  killed with SIGKILL and started again.

Every LAPSEWATCH_SOAK_SAMPLE_SECONDS (10) it samples the consumer group's lag
(input topics and lapsewatch's internal ones, as `lapsewatch lag` reads it),
each worker's RSS (VmRSS), the requests each registry received and the
circuit changes published on domains.status. After the run, the traffic
stops and a drain waits until every lapse has had its schedule (recheck
interval + confirmation + the longest breaker cooldown + 60 s for restarts).
Then:

- missed lapses: verified addresses the model holds on a lapsed domain at the
  end without an `email-unverified` (domain_expired) within that schedule of
  the lapse (or of the address's arrival, if later). Must be 0.
- false lapses: `email-unverified` events for a domain that had not lapsed
  (yet), for an address never verified, or with another reason. Must be 0.
- RSS growth of each worker run (last third of its samples against the first
  third, after a minute's warm-up), the longest a circuit stayed open while
  its server answered, and how long the .org circuits took to close once it
  listened again.

The per-minute table goes to stdout; every sample, the timeline, each lapse
and each circuit interval to bench/results/soak-series.json, the worker logs to
bench/results/soak-logs/. A non-zero missed or false count makes
`python -m bench soak` exit non-zero (REQUIRED, read by bench/run.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import statistics
import subprocess
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer
from rich.console import Console
from rich.table import Table

from bench.common import (
    LAPSEWATCH_WORKER,
    ROOT,
    Figure,
    Process,
    TopicReader,
    create_topic,
    embedded_broker,
    env_int,
    produce,
    workdir,
    worker_env,
    write_scenario,
)
from streams.kafka.broker import EmbeddedBroker, _die_with_parent
from streams.ops.lag import measure_groups
from tests import rdap_documents as docs
from tests.rdap_server import RdapServer
from tests.tls import certificate_authority

NAME = "soak"
MISSED = "missed lapses (verified addresses without email-unverified in time)"
FALSE = "false lapses (email-unverified for a domain that had not lapsed)"
REQUIRED = (MISSED, FALSE)  # bench/run.py exits non-zero when one of these misses its goal

EMAIL_EVENTS, LOGINS = "accounts.email-events", "accounts.logins"
UNVERIFIED, STATUS = "accounts.email-unverified", "domains.status"
APP_ID = "bench-soak"
RESULTS = Path(__file__).resolve().parent / "results"

# The workers' settings: short schedules so a ten-minute run sees many checks of every domain.
BREAKER_COOLDOWN, BREAKER_MAX_COOLDOWN = 5, 30
RETRY_MAX = 30
CONFIRM_AFTER = 5
SLACK = 60  # seconds a lapse may take beyond its schedule: a restart, a rebalance, a lost in-flight check
RSS_WARMUP = 60  # seconds of each worker run left out of its RSS growth
SEED_TIMEOUT = 300  # at most this long for every domain's first verdict before the soak starts
START_TIMEOUT = 300  # a worker (re)start to "Worker ready", restoring its tables included


def worker_settings(recheck: int, ca_bundle: str, servers: str) -> dict[str, str]:
    return {
        "LAPSEWATCH_STATUS_PROVIDER": "rdap",
        "LAPSEWATCH_RDAP_SERVERS": servers,
        "LAPSEWATCH_CA_BUNDLE": ca_bundle,
        "LAPSEWATCH_RDAP_BOOTSTRAP_URL": "off",
        "LAPSEWATCH_RECHECK_INTERVAL": f"{recheck}s",
        "LAPSEWATCH_RETRY_MIN": "2s",
        "LAPSEWATCH_RETRY_MAX": f"{RETRY_MAX}s",
        "LAPSEWATCH_CONFIRM_AFTER": f"{CONFIRM_AFTER}s",
        "LAPSEWATCH_LOGIN_FRESHNESS": "30s",
        "LAPSEWATCH_PROVIDER_TIMEOUT": "2s",
        "LAPSEWATCH_CHECK_DEADLINE": "5s",
        "LAPSEWATCH_BREAKER_FAILURES": "5",
        "LAPSEWATCH_BREAKER_COOLDOWN": f"{BREAKER_COOLDOWN}s",
        "LAPSEWATCH_BREAKER_MAX_COOLDOWN": f"{BREAKER_MAX_COOLDOWN}s",
        "LAPSEWATCH_PROVIDER_RATE": "400",  # far above the ~50 checks/s the schedule asks for
        "LAPSEWATCH_SERVER_RATE": "100",
        "LAPSEWATCH_TICK": "0.5s",
    }


# ---------------------------------------------------------------- registries

REGISTERED = "2015-03-01T00:00:00Z"  # before every address's verified_at: no re-registration anywhere
VERIFIED_AT = "2024-05-01T12:00:00Z"


def active(name: str) -> dict:
    return {"json": docs.domain_object(name, ["active", "client transfer prohibited"], REGISTERED, docs.iso(400))}


LAPSE_KINDS = {  # what a registry answers once the name has lapsed; None: 404, no such domain
    "redemption period": lambda n: {
        "json": docs.domain_object(n, ["pending delete", "redemption period"], REGISTERED, docs.iso(-38))
    },
    "pending delete": lambda n: {"json": docs.domain_object(n, ["pending delete"], REGISTERED, docs.iso(-75))},
    "expired": lambda n: {"json": docs.domain_object(n, ["client transfer prohibited"], REGISTERED, docs.iso(-3))},
    "hold after expiry": lambda n: {"json": docs.domain_object(n, ["client hold"], REGISTERED, docs.iso(-20))},
    "404": None,
}


FAULTS = {  # what a faulty name gets, for ever
    "timeout": lambda n: {"hang": 30},
    "HTTP 500": lambda n: {"status": 500},
    "429 Retry-After seconds": lambda n: {"status": 429, "retry_after": "3"},
    "429 Retry-After date": lambda n: {"status": 429, "retry_after_date": 3},  # an HTTP date 3 s ahead
    "garbage": lambda n: {"raw": "<html><body><h1>502 Bad Gateway</h1></body></html>", "content_type": "text/html"},
    "truncated": lambda n: {"truncated": docs.domain_object(n, ["active"], REGISTERED, docs.iso(400))},
    "trickle": lambda n: {"trickle": 0.5},
}


class Registry(RdapServer):
    """One TLD's RDAP server, with its role in the soak and its failing names."""

    def __init__(self, tld: str, role: str):
        super().__init__()
        self.tld, self.role = tld, role
        self.faulty: dict[str, str] = {}  # name → fault
        self.base = ""  # the base URL the workers are given

    def counts(self) -> Counter[str]:
        """Requests for domains so far, and how many of them were for the failing names."""
        return Counter(requests=len(self.asks()), faulty=sum(len(self.asks(name)) for name in self.faulty))


# ---------------------------------------------------------------- the platform


@dataclass
class Address:
    domain: str
    verified: bool
    added_at: float  # wall clock


class Platform:
    """The account service: who holds which address, and the events that say so.

    Anchor accounts (one per domain, verified) only log in, so every domain keeps
    a member; the others are added, changed, removed and log in at random.
    Each account's events carry strictly increasing `occurred_at` seconds, so
    the order lapsewatch applies them in does not depend on the topics'.
    """

    def __init__(self, rng: random.Random, domains: list[str]):
        self.rng = rng
        self.domains = domains
        self.accounts: dict[str, dict[str, Address]] = {}
        self.churning: list[str] = []  # non-anchor accounts, for O(1) random picks
        self._position: dict[str, int] = {}
        self.verified_ever: dict[tuple[str, str], bool] = {}
        self._last_second: dict[str, int] = {}
        self._sequence = 0
        self.sent: Counter[str] = Counter()

    def _occurred_at(self, account: str) -> str:
        second = max(int(time.time()), self._last_second.get(account, 0) + 1)
        self._last_second[account] = second
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))

    def _event_id(self) -> str:
        self._sequence += 1
        return f"soak-{self._sequence}"

    def _new_address(self, account: str, domain: str | None = None, verified: bool | None = None) -> str:
        domain = domain or self.rng.choice(self.domains)
        verified = self.rng.random() < 0.9 if verified is None else verified
        self._sequence += 1
        email = f"u{self._sequence}@{domain}"
        self.accounts.setdefault(account, {})[email] = Address(domain, verified, time.time())
        self.verified_ever[(account, email)] = verified
        return email

    def _track(self, account: str) -> None:
        self._position[account] = len(self.churning)
        self.churning.append(account)

    def _forget(self, account: str) -> None:
        index = self._position.pop(account)
        last = self.churning.pop()
        if last != account:
            self.churning[index] = last
            self._position[last] = index
        del self.accounts[account]

    def _email_event(self, kind: str, account: str, email: str, **extra) -> tuple[str, bytes, bytes]:
        self.sent[kind] += 1
        address = self.accounts.get(account, {}).get(email)
        verified = address.verified if address is not None else None
        payload = {
            "event_id": self._event_id(),
            "type": kind,
            "account_id": account,
            "email": email,
            "occurred_at": self._occurred_at(account),
            **extra,
        }
        if kind in ("email_added", "email_changed"):
            payload.update(verified=verified, verified_at=VERIFIED_AT if verified else None)
        return EMAIL_EVENTS, account.encode(), orjson.dumps(payload)

    def _login(self, account: str) -> tuple[str, bytes, bytes]:
        self.sent["login"] += 1
        snapshot = [
            {"email": email, "verified": a.verified, "verified_at": VERIFIED_AT if a.verified else None}
            for email, a in self.accounts.get(account, {}).items()
        ]
        return (
            LOGINS,
            account.encode(),
            orjson.dumps(
                {
                    "event_id": self._event_id(),
                    "account_id": account,
                    "occurred_at": self._occurred_at(account),
                    "emails": snapshot,
                }
            ),
        )

    def seed(self, extra_accounts: int) -> list[tuple[str, bytes, bytes]]:
        """An anchor account on every domain, then `extra_accounts` churning ones (a tenth with two addresses)."""
        records = []
        for index, domain in enumerate(self.domains):
            account = f"anchor-{index}"
            records.append(self._email_event("email_added", account, self._new_address(account, domain, True)))
        for index in range(extra_accounts):
            account = f"acct-{index}"
            self._track(account)
            for _ in range(2 if self.rng.random() < 0.1 else 1):
                records.append(self._email_event("email_added", account, self._new_address(account)))
        return records

    def next_event(self) -> tuple[str, bytes, bytes]:
        """One event of the steady mix: 40 % logins, 20 % added, 20 % removed, 20 % changed."""
        roll = self.rng.random()
        if roll < 0.4:
            if self.rng.random() < 0.2:  # anchors log in too: their snapshots must never drop anything
                return self._login(f"anchor-{self.rng.randrange(len(self.domains))}")
            return self._login(self.rng.choice(self.churning))
        if roll < 0.6 or len(self.churning) < 100:
            if self.rng.random() < 0.7:
                self._sequence += 1
                account = f"new-{self._sequence}"
                self._track(account)
            else:
                account = self.rng.choice(self.churning)
            return self._email_event("email_added", account, self._new_address(account))
        account = self.rng.choice(self.churning)
        addresses = self.accounts[account]
        old = self.rng.choice(sorted(addresses)) if addresses else None
        if roll < 0.8:
            if old is None:
                return self._login(account)
            record = self._email_event("email_removed", account, old)
            del addresses[old]
            if not addresses:
                self._forget(account)
            return record
        new = self._new_address(account)
        if old is not None and self.rng.random() < 0.8:
            record = self._email_event("email_changed", account, new, previous_email=old)
            del addresses[old]
        else:  # without previous_email the new address replaces all the account's addresses
            record = self._email_event("email_changed", account, new)
            for email in [e for e in addresses if e != new]:
                del addresses[email]
        return record

    def holders(self, domains: set[str]) -> list[tuple[str, str, Address]]:
        """(account, email, address) of every address the model holds on one of `domains`."""
        return [
            (account, email, address)
            for account, addresses in self.accounts.items()
            for email, address in addresses.items()
            if address.domain in domains
        ]


# ---------------------------------------------------------------- workers


@dataclass
class Run:
    """One process of a worker: from its start to its end, and how it ended."""

    worker: str
    pid: int
    log: Path
    started: float
    ready_after: float | None = None
    ended: float | None = None
    how: str | None = None
    rss: list[tuple[float, float]] = field(default_factory=list)  # (wall time, MiB)
    # (wall time, MiB): the RSS less the tables' RocksDB memtables and block caches, which fill up to
    # their configured bounds (streams/topics.py STORE_OPTIONS) as writes and reads arrive
    heap: list[tuple[float, float]] = field(default_factory=list)
    peak: float = 0.0


class Worker(Process):
    """A lapsewatch worker that dies with this process; each (re)start gets its own log and Run."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        super().__init__(LAPSEWATCH_WORKER, env, log_dir / f"{name}-1.log")
        self.name, self.log_dir = name, log_dir
        self.runs: list[Run] = []
        self.restarting = False  # stopped on purpose: not being alive is no surprise

    async def start(self, ready: str = "Worker ready", timeout: float = START_TIMEOUT) -> float:
        self.log_path = self.log_dir / f"{self.name}-{len(self.runs) + 1}.log"
        with self.log_path.open("ab") as log:
            self.started_at = time.monotonic()
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )
        run = Run(self.name, self.process.pid, self.log_path, time.time())
        self.runs.append(run)
        await self.wait_log(ready, timeout)
        run.ready_after = time.monotonic() - self.started_at
        return run.ready_after

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sample_rss(self, at: float) -> float | None:
        if not self.alive() or not self.runs or self.runs[-1].ready_after is None:
            return None
        try:
            rss = self.rss_mib()
            self.runs[-1].peak = max(self.runs[-1].peak, self.rss_mib("VmHWM"))
        except (OSError, RuntimeError):
            return None
        self.runs[-1].rss.append((at, rss))
        rocks = self.table_memory_mib()
        if rocks is not None:
            self.runs[-1].heap.append((at, rss - rocks))
        return rss

    def table_memory_mib(self) -> float | None:
        """The tables' RocksDB memory the worker reports on /metrics (lapsewatch_table_memory_bytes)."""
        url = f"http://127.0.0.1:{self.env['LAPSEWATCH_WEB_PORT']}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        values = [
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("lapsewatch_table_memory_bytes{")
        ]
        return sum(values) / 2**20 if values else None

    def ended(self, how: str) -> None:
        if self.runs and self.runs[-1].ended is None:
            self.runs[-1].ended, self.runs[-1].how = time.time(), how

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(30)


# Faust's log format: "[2026-12-01 20:14:33,123] [4242] [ERROR]: circuit OPEN for rdap 127.0.0.1:4567 ..."
CIRCUIT_LINE = re.compile(
    r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] \[\d+\] \[\w+\]:? "
    r"circuit (OPEN|HALF-OPEN|CLOSED) for \S+ (\S+)",
    re.MULTILINE,
)


def circuit_log(run: Run) -> list[tuple[float, str, str]]:
    """(wall time, state, server netloc) for each circuit change the run logged."""
    text = run.log.read_text(errors="replace") if run.log.exists() else ""
    found = []
    for stamp, millis, state, server in CIRCUIT_LINE.findall(text):
        at = time.mktime(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").timetuple()) + int(millis) / 1000
        found.append((at, state, server))
    return found


# ---------------------------------------------------------------- the soak


@dataclass
class Interval:
    """A circuit not closed, in one worker run, for one server."""

    worker: str
    server: str
    opened: float
    ended: float
    closed: bool  # False: still open when the run or the soak ended


class Soak:
    def __init__(self, broker: EmbeddedBroker, scratch: Path, registries: list[Registry]):
        self.broker, self.scratch = broker, scratch
        self.registries = registries
        self.by_server = {r.base.split("/")[2]: r for r in registries}  # netloc → registry
        self.seconds = env_int("LAPSEWATCH_SOAK_SECONDS", 600)
        self.domain_count = env_int("LAPSEWATCH_SOAK_DOMAINS", 3000)
        self.rate = env_int("LAPSEWATCH_SOAK_EVENTS_PER_SECOND", 20)
        self.recheck = env_int("LAPSEWATCH_SOAK_RECHECK_SECONDS", 60)
        self.outage = min(env_int("LAPSEWATCH_SOAK_OUTAGE_SECONDS", 60), self.seconds // 4)
        self.lapse_count = env_int("LAPSEWATCH_SOAK_LAPSES", max(8, self.seconds // 15))
        self.sample_every = env_int("LAPSEWATCH_SOAK_SAMPLE_SECONDS", 10)
        self.faulty_per_kind = env_int("LAPSEWATCH_SOAK_FAULTY_PER_KIND", 2)
        self.worker_count = env_int("LAPSEWATCH_SOAK_WORKERS", 2)
        # The time a lapse has to show: a recheck, its confirmation, a circuit's longest cooldown, and slack
        # for the restarts. On the registry that goes down, also the outage and the longest retry delay.
        self.schedule = self.recheck + CONFIRM_AFTER + BREAKER_MAX_COOLDOWN + SLACK
        self.outage_schedule = self.schedule + self.outage + RETRY_MAX
        self.rng = random.Random(11)

        self.domains: list[str] = []
        self.faulty: dict[str, str] = {}  # domain → fault
        self.lapse_plan: list[tuple[float, str, str]] = []  # (offset in s, domain, kind)
        self.lapsed_at: dict[str, float] = {}
        self.platform: Platform | None = None
        self.workers: list[Worker] = []
        self.t0 = 0.0
        self.stop_at = 0.0
        self.outage_window: tuple[float, float] | None = None
        self.timeline: list[tuple[float, str, str]] = []  # (wall time, what happened, its short tag)
        self.samples: list[dict] = []
        self.first_verdict: set[str] = set()
        self.lapsed_transition: dict[str, float] = {}
        self.circuit_events: list[tuple[float, str, str]] = []  # (arrival, server netloc, state)
        self.unverified: list[dict] = []
        self.restarts: list[dict] = []
        self.seed_note = ""
        self.produced = 0
        self.seeded = 0
        self.closing_at: float | None = None  # what the workers log while they are stopped at the end is not counted
        self.producer: AIOKafkaProducer | None = None
        self.readers: list[TopicReader] = []
        self._tasks: list[asyncio.Task] = []

    # ---- plan

    def plan_names(self) -> None:
        words = ("shop", "studio", "bakery", "clinic", "garage", "agency", "lab", "farm", "press", "works")
        for index in range(self.domain_count):
            registry = self.registries[index % len(self.registries)]
            self.domains.append(f"{words[index % len(words)]}{index}-soak.{registry.tld}")
        net = next(r for r in self.registries if r.role.startswith("per-name"))
        candidates = [d for d in self.domains if d.endswith("." + net.tld)]
        picked = iter(self.rng.sample(candidates, len(FAULTS) * self.faulty_per_kind))
        for fault in FAULTS:
            for _ in range(self.faulty_per_kind):
                self.faulty[next(picked)] = fault
        normal = [d for d in self.domains if d not in self.faulty]
        kinds = list(LAPSE_KINDS)
        chosen = self.rng.sample(normal, self.lapse_count)
        for index, domain in enumerate(chosen):
            offset = self.seconds * (0.05 + 0.8 * index / max(1, self.lapse_count - 1))
            self.lapse_plan.append((offset, domain, kinds[index % len(kinds)]))
        for registry in self.registries:
            for domain in self.domains:
                if domain.endswith("." + registry.tld):
                    fault = self.faulty.get(domain)
                    registry.set(domain, FAULTS[fault](domain) if fault else active(domain))
                    if fault:
                        registry.faulty[domain] = fault

    def schedule_of(self, domain: str) -> float:
        return self.outage_schedule if self.registry_of(domain).role.startswith("down") else self.schedule

    def registry_of(self, domain: str) -> Registry:
        return next(r for r in self.registries if domain.endswith("." + r.tld))

    def note(self, text: str, tag: str = "") -> None:
        at = time.time()
        self.timeline.append((at, text, tag))
        print(f"  [{at - self.t0:6.0f} s] {text}" if self.t0 else f"  {text}", flush=True)

    # ---- reading what lapsewatch publishes

    def on_status(self, message, _arrived: float) -> None:
        value = orjson.loads(message.value)
        data = value.get("data") or {}
        if value.get("type") == "lapsewatch.provider.circuit":
            self.circuit_events.append(
                (time.time(), str(data.get("server", "")).split(" ")[-1], str(data.get("state")))
            )
            return
        transition = data.get("transition")
        if transition in ("active", "inconclusive", "lapse_suspected", "lapsed"):
            self.first_verdict.add(data.get("domain"))
        if transition == "lapsed":
            self.lapsed_transition.setdefault(data.get("domain"), time.time())

    def on_unverified(self, message, _arrived: float) -> None:
        value = orjson.loads(message.value)
        data = value.get("data") or {}
        self.unverified.append(
            {
                "at": time.time(),
                "id": value.get("id"),
                "account": data.get("account_id"),
                "email": data.get("email"),
                "domain": data.get("domain"),
                "reason": data.get("reason"),
            }
        )

    # ---- the run

    async def run(self) -> None:
        self.plan_names()
        for topic in (EMAIL_EVENTS, LOGINS):
            await create_topic(self.broker.bootstrap, topic, 8)
        servers = ",".join(f"{r.tld}={r.base}" for r in self.registries)
        scenario = write_scenario(self.scratch / "unused-scenario.json")
        settings = worker_settings(self.recheck, certificate_authority().ca_pem_path, servers)
        for index in range(self.worker_count):
            env = worker_env(self.broker, APP_ID, self.scratch / f"data-{index + 1}", scenario, **settings)
            self.workers.append(Worker(f"worker-{index + 1}", env, self.scratch))
        began = time.monotonic()
        await asyncio.gather(*(worker.start() for worker in self.workers))
        self.note(f"{len(self.workers)} workers ready in {time.monotonic() - began:.0f} s")
        for topic, callback in ((STATUS, self.on_status), (UNVERIFIED, self.on_unverified)):
            reader = TopicReader(self.broker.bootstrap, topic, on_record=callback)
            self.readers.append(reader)
            await reader.start(timeout=60)

        self.platform = Platform(self.rng, self.domains)
        seed = self.platform.seed(extra_accounts=self.domain_count)
        began = time.monotonic()
        await produce(self.broker.bootstrap, None, seed)
        self.produced += len(seed)
        expected = set(self.domains) - set(self.faulty)
        deadline = time.monotonic() + SEED_TIMEOUT
        while not expected <= self.first_verdict and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        missing = len(expected - self.first_verdict)
        self.seeded = len(seed)
        self.seed_note = (
            f"{len(seed):,} seed events; {len(expected) - missing:,} of {len(expected):,} answering "
            f"domains had a first verdict after {time.monotonic() - began:.0f} s"
        )
        self.note(self.seed_note + ("" if not missing else f" (gave up waiting for {missing:,})"))

        self.producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap, linger_ms=5)
        await asyncio.wait_for(self.producer.start(), 30)
        self.t0 = time.time()
        self.stop_at = self.t0 + self.seconds
        self.note(
            f"soak starts: {self.seconds} s, {self.rate} events/s, {len(self.domains):,} domains, "
            f"{len(self.faulty)} faulty names on .net, {len(self.lapse_plan)} lapses, recheck "
            f"{self.recheck} s"
        )
        sampler = asyncio.ensure_future(self.sample_loop())
        try:
            actions = [self.at(offset, self.lapse(domain, kind)) for offset, domain, kind in self.lapse_plan]
            actions.append(self.at(0.30 * self.seconds, self.restart(self.workers[0], "SIGTERM")))
            actions.append(self.at(0.45 * self.seconds, self.outage_of(self.outage)))
            actions.append(self.at(0.70 * self.seconds, self.restart(self.workers[-1], "SIGKILL")))
            self._tasks = [asyncio.ensure_future(action) for action in actions]
            await self.generate()
            await asyncio.gather(*self._tasks)  # a restart still under way is awaited (bounded by its timeout)
            self.note(f"traffic stopped after {self.produced - len(seed):,} events; draining", "drain")
            await self.drain()
            await self.take_sample()
        finally:
            for task in (sampler, *self._tasks):
                task.cancel()
            await asyncio.gather(sampler, *self._tasks, return_exceptions=True)

    async def at(self, offset: float, action) -> None:
        await asyncio.sleep(max(0.0, self.t0 + offset - time.time()))
        await action

    async def lapse(self, domain: str, kind: str) -> None:
        answer = LAPSE_KINDS[kind]
        registry = self.registry_of(domain)
        self.lapsed_at[domain] = time.time()  # before the registry says so: no event can precede it
        if answer is None:
            registry.unset(domain)  # unplanned names get 404
        else:
            registry.set(domain, answer(domain))

    async def restart(self, worker: Worker, how: str) -> None:
        worker.restarting = True
        self.note(f"{worker.name}: {how}", f"{worker.name} {how}")
        began = time.monotonic()
        if how == "SIGTERM":
            await asyncio.to_thread(worker.stop, 60.0)
        else:
            await asyncio.to_thread(worker.kill)
        stopped = time.monotonic() - began
        worker.ended(how)
        ready = await worker.start()
        self.restarts.append({"worker": worker.name, "how": how, "stopped_in": stopped, "ready_in": ready})
        worker.restarting = False
        self.note(
            f"{worker.name}: ready again {ready:.1f} s after its restart ({how}; it took {stopped:.1f} s to go)",
            f"{worker.name} ready {ready:.0f} s",
        )

    def down(self) -> Registry:
        return next(r for r in self.registries if r.role.startswith("down"))

    async def outage_of(self, seconds: float) -> None:
        registry = self.down()
        began = time.time()
        await asyncio.to_thread(registry.go_down)
        self.note(f".{registry.tld} registry down (connections refused) for {seconds:.0f} s", f".{registry.tld} down")
        await asyncio.sleep(seconds)
        await asyncio.to_thread(registry.come_back)
        self.outage_window = (began, time.time())
        self.note(f".{registry.tld} registry back", f".{registry.tld} back")

    async def generate(self) -> None:
        """The steady mix, `rate` events a second, until the end of the soak."""
        step = 0.1
        owed = 0.0
        while time.time() < self.stop_at:
            owed += self.rate * step
            while owed >= 1:
                owed -= 1
                topic, key, value = self.platform.next_event()
                await asyncio.wait_for(self.producer.send(topic, key=key, value=value), 30)
                self.produced += 1
            await asyncio.sleep(step)
        await asyncio.wait_for(self.producer.flush(), 60)

    async def sample_loop(self) -> None:
        next_at = self.t0
        while True:
            await self.take_sample()
            next_at += self.sample_every
            await asyncio.sleep(max(0.5, next_at - time.time()))

    async def lag(self) -> tuple[int | None, int | None]:
        groups = {
            f"{APP_ID}-input": [EMAIL_EVENTS, LOGINS],  # the input reader's group (streams/accounts/intake.py)
            APP_ID: [f"{APP_ID}-account-commands", f"{APP_ID}-domain-commands"],
        }
        try:
            report = await asyncio.wait_for(measure_groups(self.broker.bootstrap, groups, ages=False, timeout=5), 20)
        except Exception:  # a broker busy with a rebalance: this sample has no lag
            return None, None
        by_topic = report.by_topic()
        inputs = by_topic.get(EMAIL_EVENTS, 0) + by_topic.get(LOGINS, 0)
        return inputs, report.total - inputs

    async def take_sample(self) -> dict:
        inputs, internal = await self.lag()
        at = time.time()
        for worker in self.workers:
            if not worker.restarting and not worker.alive() and worker.runs and worker.runs[-1].ended is None:
                worker.ended(f"exited by itself with {worker.process.returncode}")
                self.note(
                    f"{worker.name} exited by itself (status {worker.process.returncode}): see its log",
                    f"{worker.name} EXITED",
                )
        sample = {
            "t": round(at - self.t0, 1),
            "produced": self.produced,
            "input_lag": inputs,
            "internal_lag": internal,
            "rss_mib": {w.name: w.sample_rss(at) for w in self.workers},
            "requests": {r.tld: r.counts()["requests"] for r in self.registries},
            "faulty_requests": {r.tld: r.counts()["faulty"] for r in self.registries},
            "circuit": dict(Counter(state for _, _, state in self.circuit_events)),
            "unverified": len(self.unverified),
            "lapsed": len(self.lapsed_at),
        }
        self.samples.append(sample)
        rss = "/".join("—" if v is None else f"{v:.0f}" for v in sample["rss_mib"].values())
        print(
            f"  [{sample['t']:6.0f} s] events {self.produced:,} | lag in {_n(inputs)} internal {_n(internal)} | "
            f"RSS {rss} MiB | requests "
            + " ".join(f"{k} {v:,}" for k, v in sample["requests"].items())
            + f" | circuits {sample['circuit'] or '-'} | unverified {sample['unverified']:,}",
            flush=True,
        )
        return sample

    def expectations(self) -> list[dict]:
        """Every verified address the model holds on a lapsed domain, with its deadline and its event."""
        first_event: dict[tuple[str, str], float] = {}
        for event in self.unverified:
            if event["reason"] == "domain_expired":
                key = (event["account"], event["email"])
                first_event[key] = min(event["at"], first_event.get(key, event["at"]))
        rows = []
        for account, email, address in self.platform.holders(set(self.lapsed_at)):
            if address.verified:
                lapsed = self.lapsed_at[address.domain]
                rows.append(
                    {
                        "domain": address.domain,
                        "account": account,
                        "email": email,
                        "due": max(lapsed, address.added_at) + self.schedule_of(address.domain),
                        "lapsed_at": lapsed,
                        "event_at": first_event.get((account, email)),
                    }
                )
        return rows

    async def drain(self) -> None:
        """Until every expected event is in or past its deadline, and the input is read; bounded."""
        limit = time.time() + self.outage_schedule + 60
        while time.time() < limit:
            rows = self.expectations()
            waiting = [r for r in rows if r["event_at"] is None and time.time() < r["due"]]
            if not waiting:
                break
            await asyncio.sleep(2)
        settle = time.time() + 60
        while time.time() < settle:
            inputs, _ = await self.lag()
            if inputs == 0:
                break
            await asyncio.sleep(2)
        await asyncio.sleep(5)  # late false events, if any, have a moment to show

    async def close(self) -> None:
        self.closing_at = time.time()
        for reader in self.readers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(reader.stop(), 15)
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 15)
        await asyncio.gather(*(asyncio.to_thread(worker.stop, 30.0) for worker in self.workers), return_exceptions=True)
        for worker in self.workers:
            worker.ended("end of soak")
            with contextlib.suppress(Exception):
                worker.kill()

    # ---- what it found

    def circuit_intervals(self) -> list[Interval]:
        """Per worker run and server, the stretches its circuit was not closed (from the worker logs)."""
        end = self.closing_at or time.time()
        intervals = []
        for worker in self.workers:
            for run in worker.runs:
                opened: dict[str, float] = {}
                for at, state, server in circuit_log(run):
                    if at > end:
                        break
                    if state == "CLOSED":
                        if server in opened:
                            intervals.append(Interval(worker.name, server, opened.pop(server), at, True))
                    else:
                        opened.setdefault(server, at)
                for server, since in opened.items():
                    intervals.append(Interval(worker.name, server, since, min(run.ended or end, end), False))
        return intervals

    def open_while_answering(self, interval: Interval) -> float:
        """How long the circuit stayed open while its server answered (the outage itself left out)."""
        start = interval.opened
        down = self.by_server.get(interval.server)
        if self.outage_window and down is not None and down.role.startswith("down"):
            began, back = self.outage_window
            if interval.opened < back and interval.ended > began:
                start = max(start, back)
        return max(0.0, interval.ended - start)

    def figures(self) -> list[Figure]:
        full = self.seconds >= 600
        judged = (lambda ok: ok) if full else (lambda ok: None)
        scope = "" if full else f" (a {self.seconds} s run: judged only from 600 s)"
        rows = self.expectations()
        missed = [r for r in rows if r["event_at"] is None or r["event_at"] > r["due"]]
        late = [r for r in missed if r["event_at"] is not None]
        missed_domains = sorted({r["domain"] for r in missed})

        false_keys, why = set(), Counter()
        for event in self.unverified:
            lapsed = self.lapsed_at.get(event["domain"])
            reason = None
            if lapsed is None:
                reason = "domain never lapsed"
            elif event["at"] < lapsed:
                reason = "before its lapse"
            elif event["reason"] != "domain_expired":
                reason = f"reason {event['reason']}"
            elif not self.platform.verified_ever.get((event["account"], event["email"]), False):
                reason = "address never verified"
            if reason:
                false_keys.add((event["account"], event["email"], event["domain"]))
                why[reason] += 1
        false_domains = sorted({d for d in self.lapsed_transition if d not in self.lapsed_at})
        duplicates = len(self.unverified) - len({e["id"] for e in self.unverified})

        delays = []
        for domain, lapsed in self.lapsed_at.items():
            seen = [e["at"] for e in self.unverified if e["domain"] == domain and e["at"] >= lapsed]
            if seen:
                delays.append(min(seen) - lapsed)

        intervals = self.circuit_intervals()
        longest = max(intervals, key=self.open_while_answering, default=None)
        longest_open = self.open_while_answering(longest) if longest else 0.0
        per_server_longest = defaultdict(float)
        for interval in intervals:
            per_server_longest[interval.server] = max(
                per_server_longest[interval.server], self.open_while_answering(interval)
            )
        down = self.down()
        down_server = down.base.split("/")[2]
        back_to_closed = 0.0
        if self.outage_window:
            back = self.outage_window[1]
            for interval in intervals:
                if interval.server == down_server and interval.opened < back < interval.ended + 1e-9:
                    back_to_closed = max(back_to_closed, interval.ended - back)
        circuit_goal = BREAKER_MAX_COOLDOWN + 5

        soak_samples = [s for s in self.samples if s["t"] <= self.seconds]
        lags = [(s["input_lag"], s["t"]) for s in soak_samples if s["input_lag"] is not None]
        internal = [s["internal_lag"] for s in soak_samples if s["internal_lag"] is not None]
        final_lag = self.samples[-1]["input_lag"] if self.samples else None

        def growth_of(series: str) -> list[tuple[float, str, int, float, float]]:
            growths = []
            for worker in self.workers:
                for number, run in enumerate(worker.runs, 1):
                    points = [v for at, v in getattr(run, series) if run.started + RSS_WARMUP <= at <= self.stop_at]
                    if len(points) >= 6:
                        third = len(points) // 3
                        first, last = statistics.mean(points[:third]), statistics.mean(points[-third:])
                        growths.append((last / first - 1, f"{worker.name} run {number}", len(points), first, last))
            return growths

        growths, heap_growths = growth_of("rss"), growth_of("heap")
        worst, worst_heap = max(growths, default=None), max(heap_growths, default=None)
        peak = max((run.peak for w in self.workers for run in w.runs), default=0.0)

        span = max(1.0, (self.samples[-1]["t"] if self.samples else 1.0))
        first_requests = self.samples[0]["requests"] if self.samples else {}
        figures = [
            Figure(
                NAME,
                MISSED,
                len(missed),
                "addresses",
                "0",
                not missed,
                f"{len(self.lapsed_at)} lapses, {len(rows):,} verified addresses on them to unverify; "
                f"late {len(late)}; domains {', '.join(missed_domains[:5]) or 'none'}"
                f"{' …' if len(missed_domains) > 5 else ''}; in time = within {self.schedule} s "
                f"({self.outage_schedule} s on .{self.down().tld}) of the lapse or the address's arrival",
            ),
            Figure(
                NAME,
                FALSE,
                len(false_keys),
                "addresses",
                "0",
                not false_keys,
                (", ".join(f"{n} {k}" for k, n in why.items()) or "none")
                + f"; `lapsed` transitions of domains that never lapsed: {len(false_domains)}",
            ),
            Figure(
                NAME,
                "lapse → first email-unverified, median",
                statistics.median(delays) if delays else 0,
                "s",
                note=f"max {max(delays) if delays else 0:.0f} s over {len(delays)} lapses; recheck every "
                f"{self.recheck} s, confirmed after {CONFIRM_AFTER} s",
                digits=1,
            ),
            Figure(
                NAME,
                "RSS growth less RocksDB memory, worst worker run (last third ÷ first third)",
                100 * worst_heap[0] if worst_heap else 0,
                "%",
                "≤ 10 %",
                judged(worst_heap[0] <= 0.10) if worst_heap else None,
                (
                    "; ".join(
                        f"{name}: {first:.0f} → {last:.0f} MiB ({n} samples)"
                        for _, name, n, first, last in sorted(heap_growths, reverse=True)[:3]
                    )
                    if heap_growths
                    else "no worker run long enough"
                )
                + f"; first {RSS_WARMUP} s of each run left out; "
                "RocksDB memtables and block caches fill up to their bounds (lapsewatch_table_memory_bytes)" + scope,
                digits=1,
            ),
            Figure(
                NAME,
                "RSS growth, worst worker run (last third ÷ first third)",
                100 * worst[0] if worst else 0,
                "%",
                note=(
                    "; ".join(
                        f"{name}: {first:.0f} → {last:.0f} MiB ({n} samples)"
                        for _, name, n, first, last in sorted(growths, reverse=True)[:3]
                    )
                    if growths
                    else "no worker run long enough"
                )
                + "; RocksDB memory included",
                digits=1,
            ),
            Figure(NAME, "RSS peak (VmHWM), any worker run", peak * 2**20 / 1e6, "MB"),
            Figure(
                NAME,
                "longest a circuit stayed open while its server answered",
                longest_open,
                "s",
                f"≤ {circuit_goal} s",
                longest_open <= circuit_goal,
                (
                    f"{longest.worker} on .{self.by_server[longest.server].tld}"
                    f"{'' if longest.closed else ' (still open when its run ended)'}; "
                    if longest
                    else ""
                )
                + ", ".join(
                    f".{self.by_server[s].tld} {v:.0f} s"
                    for s, v in sorted(per_server_longest.items())
                    if s in self.by_server
                )
                + f"; max cooldown {BREAKER_MAX_COOLDOWN} s",
                digits=1,
            ),
            Figure(
                NAME,
                f".{down.tld} back after {self.outage} s down → every circuit for it closed",
                back_to_closed,
                "s",
                f"≤ {circuit_goal} s",
                back_to_closed <= circuit_goal,
                "from the worker logs (each worker has its own circuit)",
                digits=1,
            ),
        ]
        opens_elsewhere = Counter()
        for registry in self.registries:
            server = registry.base.split("/")[2]
            changes = Counter(state for _, s, state in self.circuit_events if s == server)
            if registry is not down:
                opens_elsewhere[registry.tld] = changes["open"]
            counts = registry.counts()
            requests = counts["requests"] - first_requests.get(registry.tld, 0)
            faulty = (
                f", {counts['faulty']:,} of them to its {len(registry.faulty)} failing names" if registry.faulty else ""
            )
            figures.append(
                Figure(
                    NAME,
                    f"checks at .{registry.tld} ({registry.role})",
                    requests / span,
                    "requests/s",
                    digits=1,
                    note=f"{counts['requests']:,} requests in all{faulty}; circuit open {changes['open']}, half-open "
                    f"{changes['half_open']}, closed {changes['closed']} (domains.status, both workers)",
                )
            )
        figures.append(
            Figure(
                NAME,
                "circuit opens at registries that never went down",
                sum(opens_elsewhere.values()),
                "opens",
                "0",
                not sum(opens_elsewhere.values()),
                ", ".join(f".{tld} {n}" for tld, n in opens_elsewhere.items())
                + "; a name that fails on its own is no trouble of its server",
            )
        )
        figures += [
            Figure(
                NAME,
                "input lag, highest sample",
                max(lags)[0] if lags else 0,
                "records",
                note=f"at {max(lags)[1]:.0f} s; internal topics' highest {max(internal, default=0):,}"
                if lags
                else "no lag sample",
            ),
            Figure(
                NAME,
                "input lag after the drain",
                final_lag if final_lag is not None else -1,
                "records",
                "0",
                final_lag == 0,
            ),
        ]
        for restart in self.restarts:
            figures.append(
                Figure(
                    NAME,
                    f"{restart['how']} restart of {restart['worker']} → Worker ready",
                    restart["ready_in"],
                    "s",
                    digits=1,
                    note=f"same data dir; it took {restart['stopped_in']:.1f} s to go",
                )
            )
        sent = self.platform.sent
        figures.append(
            Figure(
                NAME,
                "account events during the soak",
                self.produced - self.seeded,
                "events",
                note=f"after {self.seed_note}; mix, seed included: "
                + ", ".join(f"{k} {v:,}" for k, v in sent.most_common())
                + f"; {len(self.unverified):,} email-unverified read, {duplicates} duplicate ids",
            )
        )
        return figures

    def minute_table(self) -> Table:
        grid = Table(title=f"soak, per minute (t = 0 at the end of the seed; the soak ends at {self.seconds} s)")
        for column in (
            "min",
            "events",
            "input lag max",
            "internal lag max",
            *(f"RSS {w.name} MiB" for w in self.workers),
            *(f"req .{r.tld}" for r in self.registries),
            "circuit o/h/c",
            "lapses",
            "unverified",
            "what happened",
        ):
            grid.add_column(column, justify="left" if column in ("what happened", "min") else "right")
        previous = None
        buckets: dict[int, list[dict]] = defaultdict(list)
        for sample in self.samples:  # a sample counts for the interval before it
            buckets[int(max(0.0, sample["t"] - self.sample_every / 2) // 60)].append(sample)
        for minute in sorted(buckets):
            rows = buckets[minute]
            last = rows[-1]
            base = previous or rows[0]
            lag = [s["input_lag"] for s in rows if s["input_lag"] is not None]
            internal = [s["internal_lag"] for s in rows if s["internal_lag"] is not None]
            circuit = {
                k: last["circuit"].get(k, 0) - base["circuit"].get(k, 0) for k in ("open", "half_open", "closed")
            }
            notes = [tag for at, _, tag in self.timeline if tag and minute * 60 <= at - self.t0 < (minute + 1) * 60]
            label = f"{minute}" + (" (drain)" if minute * 60 >= self.seconds else "")
            grid.add_row(
                label,
                f"{last['produced'] - base['produced']:,}",
                _n(max(lag, default=None)),
                _n(max(internal, default=None)),
                *(_n(last["rss_mib"].get(w.name)) for w in self.workers),
                *(f"{last['requests'][r.tld] - base['requests'][r.tld]:,}" for r in self.registries),
                f"{circuit['open']}/{circuit['half_open']}/{circuit['closed']}",
                f"{last['lapsed'] - base['lapsed']}",
                f"{last['unverified'] - base['unverified']:,}",
                ", ".join(notes),
            )
            previous = last
        return grid

    def write_series(self) -> None:
        RESULTS.mkdir(parents=True, exist_ok=True)
        intervals = self.circuit_intervals()
        (RESULTS / "soak-series.json").write_bytes(
            orjson.dumps(
                {
                    "t0": self.t0,
                    "seconds": self.seconds,
                    "schedule_seconds": self.schedule,
                    "outage_schedule_seconds": self.outage_schedule,
                    "registries": [
                        {"tld": r.tld, "role": r.role, "server": r.base.split("/")[2], "faulty": r.faulty}
                        for r in self.registries
                    ],
                    "timeline": [{"t": round(at - self.t0, 1), "what": text} for at, text, _ in self.timeline],
                    "samples": self.samples,
                    "lapses": [
                        {"domain": d, "kind": k, "t": round(self.lapsed_at[d] - self.t0, 1)}
                        for _, d, k in self.lapse_plan
                        if d in self.lapsed_at
                    ],
                    "expectations": [
                        {
                            **r,
                            "due": round(r["due"] - self.t0, 1),
                            "lapsed_at": round(r["lapsed_at"] - self.t0, 1),
                            "event_at": None if r["event_at"] is None else round(r["event_at"] - self.t0, 1),
                        }
                        for r in self.expectations()
                    ],
                    "circuit_intervals": [
                        {
                            "worker": i.worker,
                            "server": i.server,
                            "tld": self.by_server[i.server].tld if i.server in self.by_server else None,
                            "opened": round(i.opened - self.t0, 1),
                            "ended": round(i.ended - self.t0, 1),
                            "closed": i.closed,
                        }
                        for i in intervals
                    ],
                    "worker_runs": [
                        {
                            "worker": r.worker,
                            "pid": r.pid,
                            "started": round(r.started - self.t0, 1),
                            "ended": None if r.ended is None else round(r.ended - self.t0, 1),
                            "how": r.how,
                            "ready_after": r.ready_after,
                            "peak_mib": r.peak,
                            "rss": [(round(at - self.t0, 1), round(v, 1)) for at, v in r.rss],
                            "rss_less_rocksdb": [(round(at - self.t0, 1), round(v, 1)) for at, v in r.heap],
                        }
                        for w in self.workers
                        for r in w.runs
                    ],
                },
                option=orjson.OPT_INDENT_2,
            )
        )
        logs = RESULTS / "soak-logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir()
        for worker in self.workers:
            for run in worker.runs:
                if run.log.exists():
                    shutil.copy(run.log, logs / run.log.name)


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


@contextlib.contextmanager
def registries():
    """The four registries, stopped whatever happens."""
    made = [
        Registry("com", "clean"),
        Registry("net", "per-name faults"),
        Registry("org", "down for a while"),
        Registry("info", "clean"),
    ]
    try:
        for registry in made:
            registry.start()
            registry.base = registry.base_url(registry.tld)
        yield made
    finally:
        for registry in made:
            with contextlib.suppress(Exception):
                registry.stop()


async def run() -> list[Figure]:
    console = Console(width=max(shutil.get_terminal_size((200, 40)).columns, 200))
    with embedded_broker() as broker, workdir(NAME) as scratch, registries() as made:
        soak = Soak(broker, scratch, made)
        # Everything inside is bounded; this bounds the sum, so a stuck broker cannot hold the run for ever.
        budget = SEED_TIMEOUT + 3 * START_TIMEOUT + soak.seconds + 2 * soak.outage_schedule + 600
        try:
            await asyncio.wait_for(soak.run(), budget)
        finally:
            await soak.close()
            if soak.samples:
                soak.write_series()
        console.print(soak.minute_table())
        return soak.figures()
