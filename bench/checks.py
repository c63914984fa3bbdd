"""Checks: domains checked per second against the simulated Fastly API on loopback (50 ms a call, no rate limit).

The provider is `lapsewatch simulator` (the aiohttp server the tests use to
play Fastly) in its own process, reached over HTTP by the real `fastly`
provider. Every run uses the same data: new domains, each with one account.

(a) One worker, end to end: N new domains are written to its table's
    changelog (bench/changelog.py), so the worker starts with all of them due.
    Counted: `active` transitions arriving on domains.status, i.e. check,
    result through the domain topic, table write, status event. Steady rate
    from 10 % to 90 %. Once with the default settings, once tuned
    (concurrency and tick as printed): the timer starts at most 4 × concurrency
    checks per tick, so the defaults cap the rate whatever the provider does.
(b) The Checker alone in this process, driven like the worker's timer, with
    the same provider and server: its ceiling without Kafka or tables, at
    the tuned concurrency and at 64.
(c) The reference approach (like PyPI's batch job): one request per address,
    each waiting for the last, same provider and server. Run for a few
    seconds; converted to domains per second with the addresses per domain of
    bench/population.py.
(d) The tuned worker with LAPSEWATCH_PROVIDER_RATE set: request rate from
    the `checked_at` of each result (taken when the Gate let the request go),
    after the bucket's initial burst (a tenth of a second's worth, by design).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import orjson

from bench.changelog import Population, write
from bench.common import (
    COMPACT,
    Figure,
    Process,
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
from bench.population import custom_domain_sizes
from streams.domains.checker import Checker
from streams.domains.lifecycle import CheckResult
from streams.kafka.broker import EmbeddedBroker, free_port
from streams.providers.breakers import Breakers
from streams.providers.fastly import FastlyProvider
from streams.providers.gate import BURST_SECONDS, Gate
from streams.settings import load_settings

NAME = "checks"
GOAL = 500  # domains/s
LATENCY_MS = 50
API_KEY = "bench-key"
# Past ~24 requests in flight the httpx client slows down (see BENCHMARKS.md), so more does not help.
TUNED = {"LAPSEWATCH_CHECK_CONCURRENCY": "64", "LAPSEWATCH_TICK": "0.1s"}
RATE = 100  # below the tuned worker's unlimited rate, so the limit is what holds it


async def simulator(scratch: Path) -> tuple[Process, str]:
    scenario = write_scenario(scratch / "scenario.json", latency_ms=LATENCY_MS)
    port = free_port()
    process = Process(
        [sys.executable, "-m", "streams", "simulator", "--scenario", str(scenario), "--port", str(port)],
        {**os.environ, "LAPSEWATCH_FASTLY_API_KEY": API_KEY},
        scratch / "simulator.log",
    )
    await process.start(ready="simulated Fastly status API on", timeout=30)
    return process, f"http://127.0.0.1:{port}"


def fastly(url: str, concurrency: int) -> FastlyProvider:
    return FastlyProvider(url, API_KEY, timeout=10.0, max_connections=concurrency)


async def worker_run(
    broker: EmbeddedBroker, scratch: Path, url: str, count: int, **settings: str
) -> tuple[float, list[float], int]:
    """One worker checks `count` new domains; returns (steady domains/s, request start times, failures)."""
    population = Population(count, count, tag=f"ck{uuid.uuid4().hex[:6]}")
    app_id = f"bench-checks-{population.tag}"
    env = worker_env(
        broker,
        app_id,
        scratch / f"{app_id}-data",
        scratch / "scenario.json",
        LAPSEWATCH_STATUS_PROVIDER="fastly",
        LAPSEWATCH_FASTLY_API_URL=url,
        LAPSEWATCH_FASTLY_API_KEY=API_KEY,
        **settings,
    )
    for table in ("accounts", "domains"):
        await create_topic(broker.bootstrap, f"{app_id}-{table}-changelog", 8, COMPACT)
    await write(broker.bootstrap, app_id, population, load_settings(env).policy, checked=False)

    suffix = f"-{population.tag}.com"
    starts: list[float] = []
    failures = 0

    def on_status(message, _at: float) -> None:
        data = orjson.loads(message.value)["data"]
        if data.get("transition") == "active" and data["domain"].endswith(suffix):
            starts.append(data["checked_at"])

    # Counts only this run's domains: the reader's own count would include earlier runs'.
    reader = TopicReader(broker.bootstrap, "domains.status", on_record=on_status)
    worker = lapsewatch_worker(env, scratch, app_id)
    try:
        await reader.start()
        seen = len(starts)
        if seen:
            raise RuntimeError(f"{seen} status events for {suffix} before the worker started")
        progress_at: list[float] = []

        def tally() -> bool:
            while len(progress_at) < len(starts):
                progress_at.append(time.monotonic())
            return len(starts) >= count

        await worker.start(timeout=120)
        await wait_until(tally, 60 + count / 20, f"{count:,} domains checked", worker.tail, poll=0.01)
        failures = worker.log().count("check of ")
    finally:
        await reader.stop()
        worker.stop()
    low, high = round(count * 0.1), round(count * 0.9)
    steady = (high - low) / (progress_at[high - 1] - progress_at[low - 1])
    return steady, sorted(_iso_epoch(s) for s in starts), failures


def _iso_epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def checker_run(url: str, domains: list[str], concurrency: int, tick: float) -> tuple[float, int]:
    """The Checker alone, its dispatch driven as the worker's timer drives it; returns (domains/s, failed)."""
    results: list[CheckResult] = []

    async def publish(result: CheckResult) -> None:
        results.append(result)
        checker.done(result.domain, result.check_id)

    checker = Checker(
        fastly(url, concurrency),
        publish,
        concurrency=concurrency,
        deadline=30.0,
        gate=Gate(1e9, 1e9),
        breakers=Breakers(1000, 60.0, 900.0),
    )
    waiting = list(reversed(domains))
    started = time.monotonic()
    try:
        while len(results) < len(domains):
            batch = [(waiting.pop(), False, False) for _ in range(min(checker.room(), len(waiting)))]
            checker.dispatch(batch, time.time())
            await asyncio.sleep(tick)
    finally:
        await checker.close()
    return len(results) / (time.monotonic() - started), sum(r.verdict is None for r in results)


async def sequential_rate(url: str, domains: list[str], seconds: float) -> float:
    """Addresses per second when each address is one request and the next waits for it."""
    provider = fastly(url, 1)
    started = time.monotonic()
    done = 0
    try:
        for domain in domains:
            await provider.check(domain)
            done += 1
            if time.monotonic() - started >= seconds:
                break
    finally:
        await provider.aclose()
    return done / (time.monotonic() - started)


async def run() -> list[Figure]:
    count = env_int("BENCH_CHECKS_DOMAINS", 5_000)
    default_count = env_int("BENCH_CHECKS_DEFAULT_DOMAINS", 1_000)
    limited_count = env_int("BENCH_CHECKS_LIMITED", 1_100)
    sizes = custom_domain_sizes()
    per_domain = sum(sizes) / len(sizes)
    domains = [f"shop{i}-inproc.com" for i in range(count)]

    with embedded_broker() as broker, workdir(NAME) as scratch:
        server, url = await simulator(scratch)
        try:
            default_rate, _, default_failed = await worker_run(broker, scratch, url, default_count)
            tuned_rate, _, tuned_failed = await worker_run(broker, scratch, url, count, **TUNED)
            _, starts, limited_failed = await worker_run(
                broker, scratch, url, limited_count, **TUNED, LAPSEWATCH_PROVIDER_RATE=str(RATE)
            )
            checker_rate, checker_failed = await checker_run(url, domains, 24, 0.1)
            wide_rate, wide_failed = await checker_run(url, domains, 64, 0.1)
            per_address = await sequential_rate(url, domains, env_int("BENCH_CHECKS_SEQUENTIAL_SECONDS", 8))
        finally:
            server.stop()

    sequential = per_address / per_domain  # domains covered per second
    burst = int(max(1.0, RATE * BURST_SECONDS))  # the bucket starts full: that many go at once
    steady_requests = (len(starts) - 1 - burst) / (starts[-1] - starts[burst])
    deviation = abs(steady_requests - RATE) / RATE
    overall = (len(starts) - 1) / (starts[-1] - starts[0])
    goal = f"≥ {GOAL:,} domains/s"
    tuned = ", ".join(f"{k.removeprefix('LAPSEWATCH_')}={v}" for k, v in TUNED.items())
    return [
        Figure(
            NAME,
            "(a) one worker, default settings (concurrency 48, tick 1 s)",
            default_rate,
            "domains/s",
            goal,
            default_rate >= GOAL and not default_failed,
            f"{default_count:,} new domains; 48 × 50 ms in flight bounds it at 960/s; {default_failed} failed",
        ),
        Figure(
            NAME,
            f"(a) one worker, {tuned}",
            tuned_rate,
            "domains/s",
            goal,
            tuned_rate >= GOAL and not tuned_failed,
            f"{count:,} new domains, {LATENCY_MS} ms per call over HTTP; steady 10 → 90 %; {tuned_failed} failed",
        ),
        Figure(
            NAME,
            "(b) Checker alone in process, concurrency 24, tick 0.1 s",
            checker_rate,
            "domains/s",
            note=f"no Kafka, no table; {count:,} domains; {checker_failed} failed",
        ),
        Figure(
            NAME,
            "(b) Checker alone in process, concurrency 64, tick 0.1 s",
            wide_rate,
            "domains/s",
            note=f"{count:,} domains; httpx clients of 16 connections each; {wide_failed} failed",
        ),
        Figure(
            NAME,
            "(c) sequential, one request per address (reference approach)",
            sequential,
            "domains/s",
            note=f"{per_address:.1f} addresses/s, {per_domain:.2f} addresses per domain (bench/population.py)",
            digits=1,
        ),
        Figure(NAME, "(a) tuned worker ÷ (c) sequential", tuned_rate / sequential, "×"),
        Figure(
            NAME,
            f"(d) tuned worker with PROVIDER_RATE={RATE}: sustained request rate",
            steady_requests,
            "requests/s",
            f"{RATE} ± 5 %",
            deviation <= 0.05 and not limited_failed,
            f"{deviation * 100:.1f} % off; {len(starts):,} requests, the first {burst} a burst by design; "
            f"{overall:.0f}/s with the burst counted",
            digits=1,
        ),
    ]
