"""Fault injection: a few bad domains must never stall a whole registry (issue 11, item 4).

The registry is the loopback HTTPS RDAP server (tests/rdap_server.py). A handful
of its names fail (hangs past the provider timeout, 500s, 429s with
Retry-After in both forms, garbage, truncated and trickled bodies) while many
others answer normally (active, thin with a registrar link, redirected, in
redemption, pending delete, not found), and new accounts keep arriving. Two
workers share the work; one is killed with -9 and replaced, on its data
directory and then on an empty one; in the other test the registry refuses
connections for a while and comes back on the same port.

What is asserted is what an operator would check, from the outside:

- every lapsed address is unverified, once; nothing else is (no active
  domain, no failing one, no unverified member);
- every domain in use is checked on its schedule: a new one soon after its
  first account, a known one again within its recheck interval, a failing one
  again within the longest retry; each bound is stretched only by the time a
  worker was dead or rebalancing, or the registry was down;
- no name is asked twice within LAPSEWATCH_RETRY_MIN (timed per name at the
  registry; a redirect's target and the registrar's "related" answer are other
  requests, not asks), and a name that keeps failing backs off towards
  LAPSEWATCH_RETRY_MAX;
- no worker's circuit stays open longer than the longest cooldown while the
  registry answers other names (each worker's /readyz, sampled), and the
  `lapsewatch.provider.circuit` events say so.

Bad names are named to sort first ("bad-..."), as in the operator's report: a
half-open probe chosen by name order always picked one of them.

Each test collects everything that went wrong and fails once at the end with
the whole list, so one run says every way it failed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import orjson
import pytest

from tests import rdap_documents as docs
from tests.harness import Bus, Worker, WorkerConfig, email_event, unique, unique_domain, wait_for
from tests.rdap_server import RdapServer
from tests.tls import certificate_authority

# --- settings: realistic manners, scaled to seconds ----------------------------------------------------------------
RETRY_MIN, RETRY_MAX = 4.0, 12.0  # RETRY_MIN above the check deadline, as in production (5m, 30s)
CONFIRM_AFTER = 5.0  # a confirmation is a second ask: never within RETRY_MIN
TIMEOUT, DEADLINE = 1.0, 3.0  # per request; per check (a trickle runs into it)
FAILURES, COOLDOWN, MAX_COOLDOWN = 3, 2.0, 8.0
RECHECK, JITTER = 20.0, 0.5  # known domains are asked again 10-20 s later: the registry always has work
RETRY_AFTER = 2  # seconds the 429s ask for (the HTTP-date form rounds up: at most one more)
SETTINGS = {
    "LAPSEWATCH_STATUS_PROVIDER": "rdap",
    "LAPSEWATCH_PROVIDER_TIMEOUT": f"{TIMEOUT:g}s",
    "LAPSEWATCH_CHECK_DEADLINE": f"{DEADLINE:g}s",
    "LAPSEWATCH_BREAKER_FAILURES": str(FAILURES),
    "LAPSEWATCH_BREAKER_WINDOW": "2m",
    "LAPSEWATCH_BREAKER_COOLDOWN": f"{COOLDOWN:g}s",
    "LAPSEWATCH_BREAKER_MAX_COOLDOWN": f"{MAX_COOLDOWN:g}s",
    "LAPSEWATCH_RETRY_MIN": f"{RETRY_MIN:g}s",
    "LAPSEWATCH_RETRY_MAX": f"{RETRY_MAX:g}s",
    "LAPSEWATCH_INCONCLUSIVE_RETRY_MIN": f"{RETRY_MIN:g}s",
    "LAPSEWATCH_INCONCLUSIVE_RETRY_MAX": f"{RETRY_MAX:g}s",
    "LAPSEWATCH_CONFIRM_AFTER": f"{CONFIRM_AFTER:g}s",
    "LAPSEWATCH_RECHECK_INTERVAL": f"{RECHECK:g}s",
    "LAPSEWATCH_RECHECK_JITTER": str(JITTER),
    "LAPSEWATCH_PROVIDER_RATE": "100",
    "LAPSEWATCH_SERVER_RATE": "50",
}

# --- how long things may take on a busy 2-core machine --------------------------------------------------------------
HOP = 3.0  # an event through the broker hops to the domain table, or a result back
SLACK = 5.0
HELD = RETRY_AFTER + 1.0  # a 429's Retry-After holds the whole server that long
FIRST_BOUND = HOP + MAX_COOLDOWN + HELD + SLACK  # first account → first ask
KNOWN_BOUND = RECHECK + HOP + MAX_COOLDOWN + HELD + SLACK  # ask → next ask of a domain with a verdict
FAILING_BOUND = RETRY_MAX + DEADLINE + HOP + MAX_COOLDOWN + HELD + SLACK  # ask → next ask of a failing one
CIRCUIT_BOUND = MAX_COOLDOWN + SLACK  # not closed, while the registry answers other names
FEED_EVERY = 1.0  # a new domain this often, all along
T = 60.0  # waits for a phase's outcome (each ends as soon as it holds)
AFTER_FAILURE = 20.0  # the longest wait once a run has failed
TAKEOVER = 90.0  # a kill costs a session timeout (6 s) and a table restore

ACTIVE, LAPSED, FAILING = "active", "lapsed", "failing"
REGISTERED = "2016-03-01T00:00:00Z"  # every test domain's registration: before any address was verified
REGISTRY = "registry"  # the prefix every check starts at: an ask of a name is a request under it


def bad_answers() -> list[tuple[str, str, dict]]:
    """Per-name failures, each for one or two names of a registry that answers every other name:
    (label, what, answer)."""
    document = docs.domain_object("x.com", ["active"], docs.iso(-900), docs.iso(300))
    return [
        ("bad-hang-a", "hangs past the provider timeout", {"hang": 5}),
        ("bad-hang-b", "hangs past the provider timeout", {"hang": 5}),
        ("bad-500-a", "HTTP 500", {"status": 500}),
        ("bad-500-b", "HTTP 500", {"status": 500}),
        ("bad-429-seconds", "HTTP 429, Retry-After in seconds", {"status": 429, "retry_after": str(RETRY_AFTER)}),
        ("bad-429-date", "HTTP 429, Retry-After as an HTTP-date", {"status": 429, "retry_after_date": RETRY_AFTER}),
        (
            "bad-garbage",
            "200 with an HTML body",
            {"raw": "<html><body>Internal error</body></html>", "content_type": "text/html"},
        ),
        ("bad-truncated", "200 with half a JSON body", {"truncated": document}),
        ("bad-trickle", "trickles a byte every 0.2 s", {"trickle": 0.2}),  # reads are quick: the deadline ends it
    ]


@dataclass
class Name:
    domain: str
    kind: str  # ACTIVE, LAPSED or FAILING
    plays: str  # what the registry answers, for messages
    server: RdapServer
    added: float  # time.monotonic() when its accounts were produced
    verified: list[tuple[str, str]] = field(default_factory=list)  # (account, address): unverified iff it lapsed
    others: list[tuple[str, str]] = field(default_factory=list)  # addresses never verified: never unverified


class Findings:
    """What went wrong, collected over a whole run and reported at once."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    async def settle(
        self, predicate: Callable[[], object], timeout: float, what: str, detail: Callable[[], str] | None = None
    ) -> bool:
        """wait_for, noting a timeout instead of raising it: the run goes on, to say what else went wrong.

        Once something has gone wrong, later waits are cut to AFTER_FAILURE seconds, so a broken run ends soon.
        """
        if self.items:
            timeout = min(timeout, AFTER_FAILURE)
        try:
            await wait_for(predicate, timeout, what, detail, every=0.2)
            return True
        except AssertionError as error:
            self.add(str(error))
            return False


class PortOwners:
    """Which worker process a registry request came from: its source port, looked up in /proc (Linux only)."""

    def __init__(self, server_ports: set[int]):
        self.server_ports = server_ports
        self.owners: dict[int, list[tuple[float, str]]] = {}  # port -> (first seen, worker), as ports get reused

    def sample(self, workers: dict[str, Worker]) -> None:
        try:
            inodes: dict[str, int] = {}
            for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
                parts = line.split()
                local, remote, inode = parts[1], parts[2], parts[9]
                if int(remote.split(":")[1], 16) in self.server_ports:
                    inodes[inode] = int(local.split(":")[1], 16)
            for name, worker in workers.items():
                if worker.process is None or worker.process.poll() is not None:
                    continue
                fd_dir = Path(f"/proc/{worker.process.pid}/fd")
                for fd in os.listdir(fd_dir):
                    try:
                        target = os.readlink(fd_dir / fd)
                    except OSError:
                        continue
                    if target.startswith("socket:["):
                        port = inodes.get(target[8:-1])
                        if port is not None:
                            seen = self.owners.setdefault(port, [])
                            if not seen or seen[-1][1] != name:
                                seen.append((time.monotonic(), name))
        except OSError:
            pass

    def of(self, port: int | None, at: float) -> str:
        """The worker that held the port at `at` (sampled every 0.25 s: "?" when it came and went unseen)."""
        seen = self.owners.get(port) if port is not None else None
        if not seen:
            return "?"
        before = [name for since, name in seen if since <= at + 0.5]
        return before[-1] if before else seen[0][1]


class CircuitWatch:
    """Each live worker's /readyz, sampled: how long each of its circuits was not closed."""

    def __init__(self, owners: PortOwners):
        self.owners = owners
        self.workers: dict[str, Worker] = {}
        self.since: dict[tuple[str, str], float] = {}
        self.spans: list[tuple[str, str, float, float, str]] = []  # worker, server, from, to, how it ended
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                live = {n: w for n, w in self.workers.items() if w.process and w.process.poll() is None}
                self.owners.sample(live)
                answers = await asyncio.gather(
                    *[client.get(f"{w.web_url}/readyz") for w in live.values()], return_exceptions=True
                )
                now = time.monotonic()
                for name, answer in zip(live, answers, strict=True):
                    if isinstance(answer, BaseException) or name not in self.workers:
                        continue
                    try:
                        open_now = set(answer.json().get("open_circuits") or ())
                    except ValueError:
                        continue
                    for server in open_now:
                        self.since.setdefault((name, server), now)
                    for key in [k for k in self.since if k[0] == name and k[1] not in open_now]:
                        self.spans.append((name, key[1], self.since.pop(key), now, "closed"))
                await asyncio.sleep(0.25)

    def gone(self, name: str) -> None:
        """The worker was killed: its circuits no longer matter."""
        now = time.monotonic()
        self.workers.pop(name, None)
        for key in [k for k in self.since if k[0] == name]:
            self.spans.append((name, key[1], self.since.pop(key), now, "worker killed"))

    def all_spans(self) -> list[tuple[str, str, float, float, str]]:
        """Every span so far, the circuits not closed now included (up to now)."""
        now = time.monotonic()
        return self.spans + [(w, s, since, now, "still not closed") for (w, s), since in self.since.items()]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        now = time.monotonic()
        for key in list(self.since):
            self.spans.append((key[0], key[1], self.since.pop(key), now, "still not closed at the end"))


class Scene:
    """A registry with bad names among good ones, a neighbour registry (.net, and the registrars), the
    workers of one group, and everything needed to judge the run."""

    def __init__(self, broker_url: str, tmp_path_factory, registry: RdapServer, neighbour: RdapServer):
        self.broker_url = broker_url
        self.tmp = tmp_path_factory
        self.registry, self.neighbour = registry, neighbour
        self.settings = {
            **SETTINGS,
            "LAPSEWATCH_RDAP_SERVERS": f"com={registry.base_url(REGISTRY)},net={neighbour.base_url(REGISTRY)}",
            "LAPSEWATCH_CA_BUNDLE": str(certificate_authority().ca_pem_path),
        }
        # (the Fastly URL is unused: the provider is rdap)
        self.first = WorkerConfig(
            broker_url, "http://127.0.0.1:9", tmp_path_factory.mktemp("faults"), dict(self.settings)
        )
        self.app_id = self.first.app_id
        self.t0 = time.monotonic()
        self.names: list[Name] = []
        self.windows: list[tuple[float, float, str]] = []  # disturbances: a worker dead or rebalancing, an outage
        self.findings = Findings()
        self.owners = PortOwners({registry.port, neighbour.port})
        self.circuits = CircuitWatch(self.owners)
        self.workers: dict[str, Worker] = {}
        self.all_workers: list[Worker] = []
        self.bus: Bus | None = None
        self._kinds = itertools.cycle(
            [
                self.thick_active,
                self.in_redemption,
                self.thin_active,
                self.not_found,
                self.moved_active,
                self.pending_delete,
                self.net_active,
                self.net_lapsed,
            ]
        )
        self._feeding: asyncio.Task | None = None
        self.t0_epoch = time.time() - (time.monotonic() - self.t0)
        self.trace: set[str] = set()  # domains whose way through the topics the report shows
        self._tracing = False
        self._traced = {
            "input": self.first.topics["email_events"],
            "accounts": f"{self.app_id}-account-commands",
            "domains": f"{self.app_id}-domain-commands",
            "table": f"{self.app_id}-domains-changelog",
        }
        self._parsed: dict[str, int] = {}
        self._statuses: dict[str, list[str]] = {}
        self._circuits: list[dict] = []
        self._unverified: list[dict] = []

    # --- the group ---------------------------------------------------------------------------------------------------

    def config(self) -> WorkerConfig:
        """Another worker of the group, on an empty data directory of its own."""
        return WorkerConfig(
            self.broker_url, "http://127.0.0.1:9", self.tmp.mktemp("faults"), dict(self.settings), app_id=self.app_id
        )

    async def start(self, **configs: WorkerConfig) -> None:
        started = {name: Worker(config) for name, config in configs.items()}
        self.all_workers.extend(started.values())
        await asyncio.gather(*[worker.start() for worker in started.values()])
        self.workers.update(started)
        self.circuits.workers.update(started)
        if not self._tracing:  # the internal topics exist once a worker ran: follow them, for diagnostics only
            self._tracing = True
            await self.bus.follow(*self._traced.values())

    def kill(self, name: str) -> float:
        worker = self.workers.pop(name)
        worker.process.kill()
        worker.process.wait()
        self.circuits.gone(name)
        return time.monotonic()

    async def open(self) -> None:
        self.bus = await Bus(self.broker_url.split("://", 1)[1]).start()
        topics = self.first.topics
        await self.bus.follow(topics["email_unverified"], topics["domain_status"], topics["dead_letter"])
        self.circuits.start()

    async def close(self) -> None:
        await self.stop_feeding()
        await self.circuits.stop()
        for worker in self.all_workers:
            worker.stop()
        if self.bus:
            await self.bus.close()

    async def settled_split(self, why: str, since: float) -> None:
        """Wait until the live workers own every domain partition between them, none twice; a disturbance."""

        def split() -> bool:
            owned = [owned_partitions(w) for w in self.workers.values()]
            return all(owned) and sum(map(len, owned)) == 4 and set().union(*owned) == {0, 1, 2, 3}

        await self.findings.settle(split, TAKEOVER, f"the live workers to share the partitions ({why})", self.logs)
        self.windows.append((since, time.monotonic() + HOP, why))

    def logs(self) -> str:
        return "\n".join(f"--- {n} ({w.log_path})\n{w.log_tail(15)}" for n, w in self.workers.items())

    # --- the names ---------------------------------------------------------------------------------------------------

    async def add(
        self,
        label: str,
        kind: str,
        plays: str,
        answer: dict | None = None,
        *,
        server: RdapServer | None = None,
        tld: str = "com",
        plan: Callable[[str], None] | None = None,
        others: int = 0,
    ) -> Name:
        server = server or self.registry
        domain = unique_domain(label, tld)
        if plan is not None:
            plan(domain)
        else:
            server.set(domain, answer, prefix=REGISTRY)
        name = Name(domain, kind, plays, server, time.monotonic())
        events = []
        account = unique("acct")
        name.verified.append((account, f"owner@{domain}"))
        events.append((account, email_event("email_added", account, f"owner@{domain}", verified=True)))
        for n in range(others):  # an address never verified: nothing to unverify
            other = unique("acct")
            name.others.append((other, f"new{n}@{domain}"))
            events.append((other, email_event("email_added", other, f"new{n}@{domain}", verified=False)))
        self.names.append(name)
        await self.bus.send_many(self.first.topics["email_events"], events)
        return name

    def doc(self, domain: str, statuses: list[str], expires: float | None, **extra) -> dict:
        """An answer about `domain`, expiring `expires` days from now (None: no dates, as a thin registry).

        Registered long before the test accounts' addresses were verified (2024-05-01): no re-registration.
        """
        registered = None if expires is None else REGISTERED
        return {
            "json": docs.domain_object(
                domain, statuses, registered, None if expires is None else docs.iso(expires), **extra
            )
        }

    async def thick_active(self) -> Name:
        return await self.add(
            "ok-thick",
            ACTIVE,
            "active, thick",
            plan=lambda d: self.registry.set(
                d, self.doc(d, ["active", "client transfer prohibited"], 300), prefix=REGISTRY
            ),
        )

    async def thin_active(self) -> Name:
        def plan(d: str) -> None:
            related = self.neighbour.base_url("registrar") + f"domain/{d}"
            self.registry.set(d, self.doc(d, ["client delete prohibited"], None, related=related), prefix=REGISTRY)
            self.neighbour.set(d, self.doc(d, ["active"], 200), prefix="registrar")

        return await self.add("ok-thin", ACTIVE, "active, thin, dates at the registrar", plan=plan)

    async def moved_active(self) -> Name:
        def plan(d: str) -> None:
            self.registry.set(
                d, {"redirect": self.registry.base_url("mirror") + f"domain/{d}", "status": 301}, prefix=REGISTRY
            )
            self.registry.set(d, self.doc(d, ["active"], 100), prefix="mirror")

        return await self.add("ok-moved", ACTIVE, "active, behind a 301", plan=plan)

    async def in_redemption(self) -> Name:
        return await self.add(
            "redemption",
            LAPSED,
            "redemption period",
            plan=lambda d: self.registry.set(
                d, self.doc(d, ["pending delete", "redemption period"], -38), prefix=REGISTRY
            ),
            others=1,
        )

    async def pending_delete(self) -> Name:
        return await self.add(
            "pending",
            LAPSED,
            "pending delete",
            plan=lambda d: self.registry.set(d, self.doc(d, ["pending delete"], -75), prefix=REGISTRY),
        )

    async def not_found(self) -> Name:
        return await self.add("gone", LAPSED, "404 not found", {"status": 404}, others=1)

    async def net_active(self) -> Name:
        return await self.add(
            "ok-net",
            ACTIVE,
            "active (.net registry)",
            server=self.neighbour,
            tld="net",
            plan=lambda d: self.neighbour.set(d, self.doc(d, ["active"], 50), prefix=REGISTRY),
        )

    async def net_lapsed(self) -> Name:
        return await self.add(
            "pending-net",
            LAPSED,
            "pending delete (.net registry)",
            server=self.neighbour,
            tld="net",
            plan=lambda d: self.neighbour.set(d, self.doc(d, ["pending delete"], -60), prefix=REGISTRY),
        )

    async def seed(self, good: int) -> None:
        """The bad names and `good` good ones, all at once."""
        for label, plays, answer in bad_answers():
            await self.add(label, FAILING, plays, answer)
        await self.more(good)

    async def more(self, count: int) -> list[Name]:
        """`count` more good domains, of every kind in turn."""
        return [await next(self._kinds)() for _ in range(count)]

    def feed(self) -> None:
        """A new domain every FEED_EVERY seconds from now on, as accounts keep arriving."""

        async def feeding() -> None:
            while True:
                await next(self._kinds)()
                await asyncio.sleep(FEED_EVERY)

        self._feeding = asyncio.ensure_future(feeding())

    async def stop_feeding(self) -> None:
        if self._feeding:
            self._feeding.cancel()
            await asyncio.gather(self._feeding, return_exceptions=True)
            self._feeding = None

    # --- what the outputs say ----------------------------------------------------------------------------------------

    def _read(self) -> None:
        """Parse what the bus received since the last look (the tests poll often; the topics grow)."""
        topics = self.first.topics
        for topic in (topics["domain_status"], topics["email_unverified"]):
            records = self.bus.records[topic]
            for message in records[self._parsed.get(topic, 0) :]:
                value = orjson.loads(message.value)
                if topic == topics["email_unverified"]:
                    self._unverified.append(value)
                elif value["type"] == "lapsewatch.provider.circuit":
                    self._circuits.append(value)
                else:
                    self._statuses.setdefault(value["subject"], []).append(value["data"]["transition"])
            self._parsed[topic] = len(records)

    def statuses(self) -> dict[str, list[str]]:
        self._read()
        return self._statuses

    def circuit_events(self) -> list[dict]:
        self._read()
        return self._circuits

    def unverified(self) -> list[dict]:
        self._read()
        return self._unverified

    def verdict_missing(self, names: list[Name] | None = None) -> list[Name]:
        """The good names without their verdict yet (a lapse: confirmed), and the failing ones never retried."""
        statuses = self.statuses()
        missing = []
        for name in names if names is not None else self.names:
            seen = statuses.get(name.domain, [])
            if (
                (name.kind == ACTIVE and "active" not in seen)
                or (name.kind == LAPSED and "lapsed" not in seen)
                or (name.kind == FAILING and len(name.server.ask_times(name.domain, REGISTRY)) < 2)
            ):
                missing.append(name)
        return missing

    async def settle_verdicts(self, what: str, names: list[Name] | None = None, timeout: float = T) -> None:
        """Every name added so far (or of `names`) has its verdict; names added meanwhile are not waited for."""
        names = list(self.names if names is None else names)
        await self.findings.settle(
            lambda: not self.verdict_missing(names),
            timeout,
            what,
            lambda: (
                "still without a verdict (or, failing, never asked again):\n"
                + "\n".join(
                    f"  {n.domain} ({n.plays}), added at {self.at(n.added)}, asked at "
                    f"{[self.at(t) for t in n.server.ask_times(n.domain, REGISTRY)]}, transitions "
                    f"{self.statuses().get(n.domain, [])}"
                    for n in self.verdict_missing(names)[:20]
                )
                + f"\n{self.logs()}"
            ),
        )

    def at(self, moment: float) -> str:
        return f"t+{moment - self.t0:.1f}s"

    # --- the operator's assertions ------------------------------------------------------------------------------------

    def judge(self, *, min_failing_asks: int = 4) -> None:
        now = time.monotonic()
        self._judge_emitted()
        self._judge_transitions()
        self._judge_asks(now, min_failing_asks)
        self._judge_circuits()

    def _judge_emitted(self) -> None:
        expected = {member for n in self.names if n.kind == LAPSED for member in n.verified}
        by_member: dict[tuple[str, str], set[str]] = {}
        kinds = {n.domain: n for n in self.names}
        for event in self.unverified():
            data = event["data"]
            member = (data["account_id"], data["email"])
            by_member.setdefault(member, set()).add(event["id"])
            name = kinds.get(data["domain"])
            if name is None or member not in expected:
                plays = f"{name.kind}: {name.plays}" if name else "a domain of no test"
                self.findings.add(
                    f"FALSE email-unverified for {data['email']} (account {data['account_id']}) on "
                    f"{data['domain']} ({plays}), reason {data['reason']}, at {event['time']}"
                )
            elif data["reason"] != "domain_expired":
                self.findings.add(
                    f"{data['email']} on {data['domain']} ({name.plays}) unverified for "
                    f"{data['reason']}, not domain_expired"
                )
        for member in sorted(expected - by_member.keys()):
            name = next(n for n in self.names if member in n.verified)
            self.trace.add(name.domain)
            self.findings.add(
                f"MISSED: {member[1]} on a lapsed domain ({name.plays}) was never unverified; asked "
                f"at {[self.at(t) for t in name.server.ask_times(name.domain, REGISTRY)]}, "
                f"transitions {self.statuses().get(name.domain, [])}"
            )
        for member, ids in by_member.items():
            if len(ids) > 1:
                self.findings.add(f"{member[1]} was unverified under {len(ids)} different event ids: {sorted(ids)}")

    def _judge_transitions(self) -> None:
        statuses = self.statuses()
        for name in self.names:
            seen = statuses.get(name.domain, [])
            if name.kind == ACTIVE and {"lapse_suspected", "lapsed", "inconclusive"} & set(seen):
                self.findings.add(f"{name.domain} ({name.plays}) went through {seen}")
            elif name.kind == FAILING and seen not in ([], ["first_seen"]):
                self.findings.add(f"{name.domain} ({name.plays}) never answers, yet went through {seen}")
            elif name.kind == LAPSED and "recovered" in seen:
                self.findings.add(f"{name.domain} ({name.plays}) went through {seen}")

    def _stretch(self, start: float, end: float) -> float:
        """How much of [start, end] was disturbed (windows merged)."""
        total, reach = 0.0, start
        for w_start, w_end, _ in sorted(self.windows):
            lo, hi = max(w_start, reach), min(w_end, end)
            if hi > lo:
                total += hi - lo
                reach = hi
        return total

    def _near(self, start: float, end: float) -> str:
        near = [f"{why} [{self.at(a)}, {self.at(b)}]" for a, b, why in self.windows if a < end + 2 and b > start - 2]
        return f"; disturbances near: {', '.join(near)}" if near else ""

    def _judge_asks(self, now: float, min_failing_asks: int) -> None:
        for name in self.names:
            asks = name.server.asks(name.domain, REGISTRY)
            times = [ask.monotonic for ask in asks]
            who = lambda ask: f"{ask.answer} to {self.owners.of(ask.peer, ask.monotonic)}"
            for i, (a, b) in enumerate(itertools.pairwise(times)):
                if b - a < RETRY_MIN:
                    self.trace.add(name.domain)
                    self.findings.add(
                        f"TWICE within RETRY_MIN ({RETRY_MIN:g} s): {name.domain} ({name.plays}) asked at "
                        f"{self.at(a)} ({who(asks[i])}) and {b - a:.2f} s later at {self.at(b)} ({who(asks[i + 1])})"
                        f"{self._near(a, b)}"
                    )
            bound = FAILING_BOUND if name.kind == FAILING else KNOWN_BOUND
            points = [name.added, *times, now]
            for i, (a, b) in enumerate(itertools.pairwise(points)):
                allowed = (FIRST_BOUND if i == 0 else bound) + self._stretch(a, b)
                if b - a > allowed:
                    self.trace.add(name.domain)
                    since = "its first account" if i == 0 else "its last ask" if b == now else "its previous ask"
                    then = "not asked since (end of run)" if b == now else f"asked at {self.at(b)}"
                    self.findings.add(
                        f"LATE: {name.domain} ({name.plays}) {then}, {b - a:.1f} s after {since} at "
                        f"{self.at(a)}; allowed {allowed:.1f} s{self._near(a, b)}"
                    )
            if name.kind == FAILING:
                gaps = [b - a for a, b in itertools.pairwise(times)]
                if len(times) < min_failing_asks:
                    self.findings.add(
                        f"{name.domain} ({name.plays}) asked only {len(times)} times, at "
                        f"{[self.at(t) for t in times]}: a failing name must keep being retried"
                    )
                elif max(gaps) < RETRY_MAX * 0.75:
                    self.findings.add(
                        f"{name.domain} ({name.plays}) never backed off towards RETRY_MAX "
                        f"({RETRY_MAX:g} s): gaps {[round(g, 1) for g in gaps]}"
                    )

    def _judge_circuits(self) -> None:
        for worker, server, start, end, how in self.circuits.all_spans():
            allowed = CIRCUIT_BOUND + self._stretch(start, end)
            if end - start > allowed:  # (a span a kill ended counts up to the kill)
                self.findings.add(
                    f"CIRCUIT of {worker} for {server} not closed for {end - start:.1f} s, from "
                    f"{self.at(start)} to {self.at(end)} ({how}); allowed {allowed:.1f} s while the "
                    f"server answers other names{self._near(start, end)}"
                )
        for event in self.circuit_events():
            data = event["data"]
            if data["state"] == "open":
                opened, retry = _seconds(event["time"]), _seconds(data["retry_at"])
                if retry - opened > MAX_COOLDOWN + 1.5:
                    self.findings.add(
                        f"circuit event opens {data['server']} for {retry - opened:.1f} s, beyond "
                        f"LAPSEWATCH_BREAKER_MAX_COOLDOWN ({MAX_COOLDOWN:g} s): {data}"
                    )

    def summary(self) -> str:
        """What the run went through (printed: `pytest -rP` shows it), so a pass can be read too."""
        kinds = {kind: [n for n in self.names if n.kind == kind] for kind in (ACTIVE, LAPSED, FAILING)}
        asks = {kind: sum(len(n.server.ask_times(n.domain, REGISTRY)) for n in names) for kind, names in kinds.items()}
        gaps = [
            b - a
            for n in self.names
            for times in [n.server.ask_times(n.domain, REGISTRY)]
            for a, b in itertools.pairwise(times)
        ]
        states: dict[str, int] = {}
        for event in self.circuit_events():
            states[event["data"]["state"]] = states.get(event["data"]["state"], 0) + 1
        spans = [f"{w} {b - a:.1f} s ({how})" for w, _, a, b, how in self.circuits.all_spans()]
        return (
            f"{len(self.names)} domains: "
            + ", ".join(f"{len(v)} {k} ({asks[k]} asks)" for k, v in kinds.items())
            + f"; shortest gap between two asks of a name {min(gaps, default=0):.2f} s"
            + f"; {len(self.unverified())} email-unverified; circuit events {states}"
            + f"; circuits not closed: {spans or 'never'}"
            + "; disturbances: "
            + ", ".join(f"{why} [{self.at(a)}, {self.at(b)}]" for a, b, why in self.windows)
        )

    def trail(self, domain: str) -> str:
        """Where the domain went (diagnostics, never asserted on): its input events, the commands about it on the
        internal topics (with the check ids and times), its table rows, and its asks at the registry."""

        def at_ms(message) -> str:
            return f"t+{message.timestamp / 1000 - self.t0_epoch:.2f}s"

        def moment(value: object) -> str:
            return f"t+{value - self.t0_epoch:.2f}s" if isinstance(value, (int, float)) else str(value)

        lines = [f"  {domain}:"]
        needle = domain.encode()
        for what, topic in self._traced.items():
            for message in self.bus.records.get(topic, []):
                if needle not in (message.value or b"") and needle not in (message.key or b""):
                    continue
                where = f"    {what} p{message.partition}@{message.offset} {at_ms(message)}"
                if message.value is None:
                    lines.append(f"{where} tombstone")
                    continue
                value = orjson.loads(message.value)
                if what == "table":
                    lines.append(
                        f"{where} status={value.get('status')} next_check_at={moment(value.get('next_check_at'))}"
                        f" last_check_at={moment(value.get('last_check_at'))} errors={value.get('errors')}"
                    )
                    continue
                for command in value if isinstance(value, list) else [value]:
                    if domain not in orjson.dumps(command).decode():
                        continue
                    keep = {
                        k: command[k] for k in ("type", "kind", "verdict", "check_id", "account_id") if k in command
                    }
                    if "checked_at" in command:
                        keep["checked_at"] = moment(command["checked_at"])
                    lines.append(f"{where} {keep}")
        for ask in self.registry.asks(domain) + self.neighbour.asks(domain):
            lines.append(
                f"    asked {self.at(ask.monotonic)} /{ask.prefix}/ {ask.answer} by "
                f"{self.owners.of(ask.peer, ask.monotonic)}"
            )
        return "\n".join(lines)

    def report(self) -> str:
        spans = [
            f"  {w} {s}: {self.at(a)} → {self.at(b)} ({b - a:.1f} s, {how})"
            for w, s, a, b, how in self.circuits.all_spans()
        ]
        return (
            "\n".join(self.findings.items)
            + f"\n\n{self.summary()}"
            + "\n\ncircuits not closed (from /readyz):\n"
            + ("\n".join(spans) or "  none")
            + "\ndisturbances: "
            + ", ".join(f"{why} [{self.at(a)}, {self.at(b)}]" for a, b, why in self.windows)
            + "\nworker logs: "
            + ", ".join(str(w.log_path) for w in self.all_workers)
            + "\n\nthe way of the domains named above (diagnostics):\n"
            + "\n".join(self.trail(domain) for domain in sorted(self.trace)[:6])
        )


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def owned_partitions(worker: Worker) -> set[int]:
    """The domain partitions the worker owned at its last due-index rebuild (empty before one)."""
    found = re.findall(r"due index rebuilt: \d+ domains in domain partitions \[([\d, ]*)\]", worker.log())
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else set()


@pytest.fixture
def registries():
    """A .com registry of this test's own (it goes down in one of them) and a .net one that hosts the registrars."""
    registry, neighbour = RdapServer().start(), RdapServer().start()
    yield registry, neighbour
    registry.stop()
    neighbour.stop()


@pytest.fixture
async def scene(broker_url, registries, tmp_path_factory):
    scene = Scene(broker_url, tmp_path_factory, *registries)
    await scene.open()
    yield scene
    await scene.close()


# --- the RDAP server's own new parts (no broker) ----------------------------------------------------------------------


async def test_the_rdap_server_times_each_ask_and_dates_a_retry_after():
    with RdapServer() as server:
        domain = unique_domain("timed", "test")
        server.set(domain, {"redirect": server.base_url("mirror") + f"domain/{domain}", "status": 301}, prefix=REGISTRY)
        server.set(domain, {"status": 429, "retry_after_date": 5}, prefix="mirror")
        async with httpx.AsyncClient(
            verify=certificate_authority().client_ssl_context(), follow_redirects=True, timeout=5
        ) as client:
            before = time.monotonic()
            answer = await client.get(server.base_url(REGISTRY) + f"domain/{domain}")
        assert answer.status_code == 429
        waits = (
            _seconds(datetime.strptime(answer.headers["retry-after"], "%a, %d %b %Y %H:%M:%S GMT").isoformat() + "Z")
            - time.time()
        )
        assert 3.5 < waits <= 6.0, answer.headers["retry-after"]
        asks = server.asks(domain)
        assert [(a.prefix, a.answer) for a in asks] == [(REGISTRY, "redirect"), ("mirror", "status 429")]
        assert len(server.ask_times(domain, REGISTRY)) == 1 and before <= asks[0].monotonic <= asks[1].monotonic
        assert asks[0].peer and len(server.requests) == 2  # the old record is still kept


async def test_the_rdap_server_refuses_connections_while_down_and_comes_back_on_its_port():
    with RdapServer() as server:
        domain = unique_domain("outage", "test")
        server.set(domain, {"json": docs.domain_object(domain, ["active"], None, None)})
        url = server.base_url(REGISTRY) + f"domain/{domain}"
        async with httpx.AsyncClient(verify=certificate_authority().client_ssl_context(), timeout=3) as client:
            assert (await client.get(url)).status_code == 200  # a kept-alive connection now
            port = server.port
            await asyncio.to_thread(server.go_down)
            assert server.is_down
            for _ in range(2):  # the kept-alive connection was cut too: every try is refused
                with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
                    await client.get(url)
            await asyncio.to_thread(server.come_back)
            assert server.port == port and not server.is_down
            assert (await client.get(url)).status_code == 200
        assert server.count(domain) == 2


# --- on the broker ---------------------------------------------------------------------------------------------------


@pytest.mark.timeout(600)
async def test_a_few_bad_names_never_stall_the_registry_while_workers_die_and_come_back(scene):
    """Two workers; bad names amid good ones all along; one worker killed (-9) mid-run and replaced on its
    data directory; then killed again and replaced at once on an empty data directory."""
    await scene.start(w1=scene.first, w2=scene.config())
    scene.windows.append((scene.t0, time.monotonic(), "workers starting"))
    await scene.settled_split("two workers join", time.monotonic())

    # Bad names among good ones; new accounts keep arriving.
    await scene.seed(good=24)
    scene.feed()
    await scene.settle_verdicts("a verdict for every good domain, and a retry of every bad one")
    failing = [n for n in scene.names if n.kind == FAILING]
    await scene.findings.settle(
        lambda: all(len(n.server.ask_times(n.domain, REGISTRY)) >= 3 for n in failing),
        T,
        "every bad name to be retried twice",
    )

    # kill -9 with checks in flight: a burst of new domains, and the kill as soon as the registry hears of them.
    burst = await scene.more(8)
    await scene.findings.settle(lambda: any(n.server.asks(n.domain) for n in burst), T, "the burst's first ask")
    second = scene.workers["w2"].config
    killed_at = scene.kill("w2")
    await scene.settled_split("w2 killed -9, w1 takes over", killed_at)
    await scene.settle_verdicts("every verdict after the kill")

    # A replacement on the killed worker's data directory.
    started = time.monotonic()
    await scene.start(w2b=second)
    if "did not stop cleanly" not in scene.workers["w2b"].log():
        scene.findings.add("the replacement on the killed worker's data directory did not notice the crash")
    await scene.settled_split("w2b joins on w2's data directory", started)
    await scene.settle_verdicts("every verdict with the replacement")

    # Killed again, and replaced at once on an empty data directory (an orchestrator's restart).
    killed_at = scene.kill("w2b")
    await scene.start(w2c=scene.config())
    await scene.settled_split("w2b killed -9, w2c joins on an empty data directory", killed_at)
    await scene.settle_verdicts("every verdict with the second replacement")

    # Every schedule comes round once more after the last disturbance; then the whole run is judged.
    await scene.stop_feeding()
    checked_from = time.monotonic()
    await scene.findings.settle(
        lambda: all(any(t > checked_from for t in n.server.ask_times(n.domain, REGISTRY)) for n in scene.names),
        KNOWN_BOUND + 10,
        "every domain in use to be asked once more after the last disturbance",
        lambda: (
            "never asked again: "
            + ", ".join(
                f"{n.domain} ({n.plays})"
                for n in scene.names
                if not any(t > checked_from for t in n.server.ask_times(n.domain, REGISTRY))
            )[:2000]
        ),
    )
    await scene.settle_verdicts("every verdict at the end")
    scene.judge()
    print(scene.summary())
    assert not scene.findings.items, scene.report()


@pytest.mark.timeout(480)
async def test_a_registry_down_for_a_while_is_asked_again_as_soon_as_it_is_back(scene):
    """Two workers; bad names amid good ones; the registry refuses connections for a while, then answers again
    on the same port: every circuit closes within the longest cooldown, every domain is checked, nothing is
    emitted for the outage."""
    await scene.start(w1=scene.first, w2=scene.config())
    scene.windows.append((scene.t0, time.monotonic(), "workers starting"))
    await scene.settled_split("two workers join", time.monotonic())
    await scene.seed(good=16)
    scene.feed()
    await scene.settle_verdicts("a verdict for every good domain before the outage")

    opens = lambda: len([e for e in scene.circuit_events() if e["data"]["state"] == "open"])
    opened_before = opens()
    down_at = time.monotonic()
    await asyncio.to_thread(scene.registry.go_down)
    # Down until circuits opened and probes failed twice more (a worker's later "open" is a failed probe's: its
    # cooldown doubled), so the registry comes back while a circuit sits in a long cooldown.
    await scene.findings.settle(lambda: opens() > opened_before, 30, "a circuit to open during the outage")
    await scene.findings.settle(
        lambda: opens() >= opened_before + len(scene.workers) + 2,
        45,
        "probes to fail during the outage and reopen circuits",
    )
    await asyncio.to_thread(scene.registry.come_back)
    up_at, up_wall = time.monotonic(), time.time()
    scene.windows.append((down_at, up_at + MAX_COOLDOWN, "registry refusing connections (+ the longest cooldown)"))
    during = [n for n in scene.names if down_at <= n.added <= up_at]

    await scene.findings.settle(
        lambda: not scene.circuits.since,
        CIRCUIT_BOUND + 10,
        "every worker's circuits to close after the outage",
        lambda: f"still not closed: {scene.circuits.since}",
    )
    await scene.settle_verdicts("a verdict for every domain added during the outage", during)
    await scene.stop_feeding()
    up_checked = time.monotonic()
    await scene.findings.settle(
        lambda: all(
            any(t > up_checked for t in n.server.ask_times(n.domain, REGISTRY))
            for n in scene.names
            if n.kind == FAILING
        ),
        FAILING_BOUND,
        "every bad name to be retried after the outage",
    )
    await scene.settle_verdicts("every verdict at the end")
    closed = [
        e for e in scene.circuit_events() if e["data"]["state"] == "closed" and _seconds(e["time"]) >= int(up_wall) - 1
    ]  # whole seconds
    if not closed:
        scene.findings.add("no lapsewatch.provider.circuit event says a circuit closed after the outage")
    scene.judge(min_failing_asks=3)
    print(scene.summary())
    assert not scene.findings.items, scene.report()
